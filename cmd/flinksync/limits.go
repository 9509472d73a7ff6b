package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/flinksync/flinksync/internal/source"
)

// readFlags are the byte caps of reading a repository, the same flags on
// every command that reads one.
type readFlags struct {
	file, repo byteSize
}

func (r *readFlags) register(f *pflag.FlagSet) {
	r.file = byteSize(source.DefaultMaxFileBytes)
	r.repo = byteSize(source.DefaultMaxRepoBytes)
	f.Var(&r.file, "max-file-bytes", "refuse a repository file over this size (bytes, or Ki, Mi, Gi)")
	f.Var(&r.repo, "max-repo-bytes", "refuse to read more than this from one revision, all files together")
}

func (r *readFlags) limits() source.Limits {
	return source.Limits{FileBytes: int64(r.file), RepoBytes: int64(r.repo)}
}

// maxByteFlag bounds a byte-size flag (1 TiB), so no sum of sizes can
// overflow.
const maxByteFlag = 1 << 40

// byteSize is a flag holding a number of bytes: "4194304", "4Mi", "4MiB".
type byteSize int64

var byteUnits = []struct {
	suffix string
	shift  uint
}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"Ki", 10}, {"Mi", 20}, {"Gi", 30}}

func (b *byteSize) String() string {
	n := int64(*b)
	for i := len(byteUnits) - 1; i >= 3; i-- { // Gi, Mi, Ki
		if u := byteUnits[i]; n > 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Set(s string) error {
	num, shift := s, uint(0)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, shift = strings.TrimSuffix(s, u.suffix), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > maxByteFlag>>shift {
		return fmt.Errorf("%q: want a number of bytes from 1 to 1Ti, optionally with a Ki, Mi or Gi suffix", s)
	}
	*b = byteSize(n << shift)
	return nil
}

func (b *byteSize) Type() string { return "bytes" }
