package cmftest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Repository copies a test repository (from, a folder whose cmf
// environment says `endpoint: ENDPOINT` and has a line AUTH where its CA
// and auth settings go) into a new folder, pointed at the stand-in with
// credentials in files in s.FilesDir (a client certificate, or the OAuth
// client), and returns the folder.
func (s *Server) Repository(t testing.TB, from string) string {
	t.Helper()
	ca, cert, key, secret := s.Files(t, s.FilesDir)
	auth := "    caFile: " + ca + "\n    auth:\n      mtls: {certFile: " + cert + ", keyFile: " + key + "}\n"
	if s.opts.Auth == OAuth {
		auth = "    caFile: " + ca + "\n    auth:\n      oauth:\n        tokenURL: " + s.TokenURL + "\n        clientID: " + s.ClientID +
			"\n        clientSecretFile: " + secret + "\n        scopes: [cmf]\n"
	}
	rewrite := strings.NewReplacer("ENDPOINT", s.URL, "AUTH\n", auth)
	to := t.TempDir()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, []byte(rewrite.Replace(string(data))), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}
