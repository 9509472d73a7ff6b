package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/flinksync/flinksync/internal/source"
)

// sshGitServer serves git-upload-pack over SSH for one client key.
func sshGitServer(t *testing.T, root string, client ssh.PublicKey) (addr string, hostKey ssh.PublicKey) {
	t.Helper()
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if string(k.Marshal()) == string(client.Marshal()) {
			return nil, nil
		}
		return nil, fmt.Errorf("unknown key")
	}}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveSSH(c, cfg, root)
		}
	}()
	return ln.Addr().String(), signer.PublicKey()
}

func serveSSH(c net.Conn, cfg *ssh.ServerConfig, root string) {
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		c.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, in, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer ch.Close()
			for req := range in {
				if req.Type != "exec" || len(req.Payload) < 4 {
					_ = req.Reply(false, nil)
					continue
				}
				n := binary.BigEndian.Uint32(req.Payload)
				line := string(req.Payload[4 : 4+n])
				cmdName, arg, _ := strings.Cut(line, " ")
				if cmdName != "git-upload-pack" {
					_ = req.Reply(false, nil)
					return
				}
				_ = req.Reply(true, nil)
				cmd := exec.Command("git-upload-pack", filepath.Join(root, strings.Trim(arg, "'/")))
				cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, io.Discard
				status := 0
				if err := cmd.Run(); err != nil {
					status = 1
				}
				_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(status)))
				return
			}
		}()
	}
}

func TestSSHKeyAndKnownHosts(t *testing.T) {
	g := newGitServer(t, "../../examples/repo-layout", nil)
	root := filepath.Dir(g.bare)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	clientPub, _ := ssh.NewPublicKey(pub)
	addr, hostKey := sshGitServer(t, root, clientPub)

	dir := t.TempDir()
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	known := filepath.Join(dir, "known_hosts")
	_ = os.WriteFile(known, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostKey)+"\n"), 0o600)
	url := "ssh://git@" + addr + "/repo.git"

	r := &source.Remote{URL: url, Ref: "main", CacheDir: t.TempDir(), Auth: source.Auth{SSHKeyFile: keyFile, KnownHostsFile: known}}
	head, err := r.Head(context.Background())
	if err != nil || head != g.git(g.work, "rev-parse", "HEAD") {
		t.Fatalf("head over SSH: %q %v", head, err)
	}
	fsys, _, err := r.Fetch(context.Background())
	if err != nil {
		t.Fatalf("fetch over SSH: %v", err)
	}
	if _, err := fsys.Open("apps/orders-enrich.yaml"); err != nil {
		t.Fatal(err)
	}

	// A server whose host key is not in known_hosts is refused.
	other := filepath.Join(dir, "other_known_hosts")
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := ssh.NewSignerFromKey(otherPriv)
	_ = os.WriteFile(other, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, otherSigner.PublicKey())+"\n"), 0o600)
	r2 := &source.Remote{URL: url, Ref: "main", CacheDir: t.TempDir(), Auth: source.Auth{SSHKeyFile: keyFile, KnownHostsFile: other}}
	if _, err := r2.Head(context.Background()); err == nil {
		t.Fatalf("a host key that does not match known_hosts must be refused")
	}
	// A key without known_hosts is refused before connecting.
	r3 := &source.Remote{URL: url, Ref: "main", CacheDir: t.TempDir(), Auth: source.Auth{SSHKeyFile: keyFile}}
	if _, err := r3.Head(context.Background()); err == nil || !strings.Contains(err.Error(), "known_hosts") {
		t.Fatalf("an SSH key without known_hosts must be refused: %v", err)
	}
}
