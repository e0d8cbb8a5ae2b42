package service

import (
	"crypto/sha256"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/midge-mqtt/midge/internal/config"
)

// reloadInputs are the files a SIGHUP reload reads that decide how a
// CONNECT is answered — the configuration files and the password, ACL and
// PSK files — as they were when they were last loaded. While none has
// changed, a reload could not answer a CONNECT differently, and the
// CONNECT does not wait for signals (see signalBarrier).
//
// A file's size, modification time and identity show most changes, but a
// file rewritten within the file system's timestamp granularity of the
// snapshot (a script writing the file and sending SIGHUP at once) can
// keep all three, its inode reused by the rename. As Git does for its
// index, such a "racy" file is compared by content until its
// modification time is old enough to be trusted (settle).
type reloadInputs struct {
	at    time.Time // when the files were looked at
	files []watchedFile
}

type watchedFile struct {
	path string
	info os.FileInfo // nil: absent
	sum  [sha256.Size]byte
}

// racyWindow is more than any file system's timestamp granularity that
// matters here (FAT's is 2 s).
const racyWindow = 3 * time.Second

func newReloadInputs(cfg *config.Config) *reloadInputs {
	var paths []string
	paths = append(paths, cfg.Sources...)
	secs := []*config.Security{&cfg.Security}
	for _, l := range cfg.Listeners {
		secs = append(secs, &l.Security)
	}
	seen := make(map[string]bool)
	for _, s := range secs {
		for _, p := range []string{s.PasswordFile, s.ACLFile, s.PSKFile} {
			if p != "" && !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
	}
	in := &reloadInputs{at: time.Now()}
	for _, p := range paths {
		f := watchedFile{path: p}
		if fi, err := os.Stat(p); err == nil {
			f.info = fi
			f.sum = contentSum(p, fi)
		}
		in.files = append(in.files, f)
	}
	return in
}

// contentSum is a digest of a file's content, or of a directory's names.
func contentSum(path string, fi os.FileInfo) (sum [sha256.Size]byte) {
	h := sha256.New()
	if fi.IsDir() {
		entries, _ := os.ReadDir(path)
		for _, e := range entries {
			io.WriteString(h, e.Name()+"\x00")
		}
	} else if f, err := os.Open(path); err == nil {
		io.Copy(h, f)
		f.Close()
	}
	copy(sum[:], h.Sum(nil))
	return sum
}

func (f *watchedFile) racy(at time.Time) bool {
	return f.info != nil && f.info.ModTime().After(at.Add(-racyWindow))
}

// changed reports whether any of the files differs from when it was
// loaded: replaced, written, created or removed. When it has not, and a
// file that was racy is old enough now, settled is a snapshot that need
// not read it again.
func (in *reloadInputs) changed() (changed bool, settled *reloadInputs) {
	now := time.Now()
	settle := false
	for i := range in.files {
		f := &in.files[i]
		fi, err := os.Stat(f.path)
		if (err == nil) != (f.info != nil) {
			return true, nil
		}
		if err != nil {
			continue
		}
		if !os.SameFile(fi, f.info) || !fi.ModTime().Equal(f.info.ModTime()) || fi.Size() != f.info.Size() {
			return true, nil
		}
		if f.racy(in.at) {
			if contentSum(f.path, fi) != f.sum {
				return true, nil
			}
			if fi.ModTime().Before(now.Add(-racyWindow)) {
				settle = true
			}
		}
	}
	if !settle {
		return false, nil
	}
	// Every file is as loaded, and looked at now, after the racy ones'
	// modification times by more than racyWindow.
	next := &reloadInputs{at: now, files: in.files}
	return false, next
}

// connectBarrier is broker.Options.ConnectBarrier for a broker that
// reloads on SIGHUP: a CONNECT waits for the signals sent before its
// connection only while a reload would read something new.
func connectBarrier(b *signalBarrier, inputs *atomic.Pointer[reloadInputs]) func() func() {
	return func() func() {
		in := inputs.Load()
		changed, settled := in.changed()
		if settled != nil {
			inputs.CompareAndSwap(in, settled)
		}
		if !changed {
			return nil
		}
		return b.start()
	}
}
