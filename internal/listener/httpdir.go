package listener

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
)

// staticFiles serves http_dir on a WebSockets listener, as Mosquitto does
// through libwebsockets: GET and HEAD only, "/" means /index.html, no
// directory listings, nothing outside the directory. os.Root enforces the
// last even through symlinks, the same guarantee Mosquitto gets by
// comparing realpath() results.
type staticFiles struct {
	root *os.Root
}

func openStaticFiles(dir string) (*staticFiles, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("http_dir %s: %w", dir, err)
	}
	return &staticFiles{root: root}, nil
}

func (s *staticFiles) close() { s.root.Close() }

func (s *staticFiles) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// path.Clean of a rooted path cannot climb above "/", so "/../x" is
	// "/x"; os.Root then refuses anything that escapes through a symlink.
	name := path.Clean("/" + r.URL.Path)
	if name == "/" {
		name = "/index.html"
	}
	name = strings.TrimPrefix(name, "/")
	f, err := s.root.Open(name)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			http.Error(w, "not found", http.StatusNotFound)
		default:
			http.Error(w, "forbidden", http.StatusForbidden)
		}
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	http.ServeContent(w, r, st.Name(), st.ModTime(), f)
}
