//go:build unix

package passwd

import (
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives f the owner and group of the file old describes, as
// mosquitto_passwd keeps them when it rewrites a file. Only root may give
// a file away; for anyone else this does nothing.
func keepOwner(f *os.File, old fs.FileInfo) {
	if st, ok := old.Sys().(*syscall.Stat_t); ok {
		_ = f.Chown(int(st.Uid), int(st.Gid))
	}
}
