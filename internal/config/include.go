package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// applyIncludeDir handles `include_dir dir`: every "*.conf" file in dir is
// read, in Mosquitto's order, as if its lines were written here (except that
// each file starts again at the default listener, with no current bridge).
func applyIncludeDir(c *call) error {
	if c.fs.depth > 0 {
		// Deliberately stricter than Mosquitto, which silently skips an
		// include_dir in an included file: the author clearly expected
		// those files to be read.
		return c.errorf("include_dir is only allowed in the main configuration file")
	}
	dir, err := c.str()
	if err != nil {
		return err
	}
	files, err := confFiles(dir)
	if err != nil {
		return &Error{File: c.file, Line: c.line, Msg: "unable to open include_dir " + dir, Err: err}
	}
	c.p.cfg.Sources = append(c.p.cfg.Sources, dir)
	for _, name := range files {
		c.p.cfg.Sources = append(c.p.cfg.Sources, name)
		if err := c.p.includeFile(name, c.fs.depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) includeFile(name string, depth int) error {
	f, err := openConfigFile(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return p.parseFile(name, f, depth)
}

// confFiles lists the files in dir whose names end in ".conf" (with at
// least one character before it; hidden files count), sorted as Mosquitto
// sorts them. Directory entries with such names are returned too, so that
// reading them fails loudly as it does in Mosquitto.
func confFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if len(n) > len(".conf") && strings.HasSuffix(n, ".conf") {
			names = append(names, n)
		}
	}
	slices.SortFunc(names, compareIncludeNames)
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = filepath.Join(dir, n)
	}
	return paths, nil
}

// compareIncludeNames orders file names the way mosquitto.conf(5) documents:
// letters compare case-insensitively first, and only when they are the same
// letter does the upper-case one come first. So "A.conf", "Ab.conf",
// "a.conf", "B.conf" load in that order, which plain byte order would not give
// ("B.conf" would precede "a.conf").
func compareIncludeNames(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ua, ub := upperASCII(a[i]), upperASCII(b[i])
		if ua != ub {
			return int(ua) - int(ub)
		}
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return len(a) - len(b)
}

func upperASCII(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 'a' + 'A'
	}
	return b
}
