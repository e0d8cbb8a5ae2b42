package auth

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// isSpace is C's isspace in the "C" locale, which Mosquitto uses to trim
// both files: blank, \t, \n, \v, \f and \r.
func isSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

// trimSpace is Mosquitto's misc__trimblanks.
func trimSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	return trimRightSpace(s)
}

func trimRightSpace(s string) string {
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// fields splits s like repeated strtok(s, sep) calls: runs of sep separate
// fields and empty fields do not exist.
func fields(s string, sep byte) []string {
	var out []string
	for s != "" {
		i := strings.IndexByte(s, sep)
		if i < 0 {
			return append(out, s)
		}
		if i > 0 {
			out = append(out, s[:i])
		}
		s = s[i+1:]
	}
	return out
}

// errStop ends eachLine early without an error.
var errStop = errors.New("stop")

// eachLine calls fn for every line of r, numbered from 1, without its line
// terminator, until fn returns an error (errStop ends it quietly). Lines
// have no length limit, as with Mosquitto's fgets_extending. NUL bytes are
// left for fn to judge: Mosquitto's C strings make them truncate the line,
// and fgets_extending then reads the rest of the file into that line.
func eachLine(r io.Reader, name string, fn func(n int, line string) error) error {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("auth: reading %s: %w", name, err)
		}
		if line == "" && err != nil {
			return nil
		}
		line = strings.TrimSuffix(line, "\n")
		if ferr := fn(n, line); ferr != nil {
			if ferr == errStop {
				return nil
			}
			return ferr
		}
		if err != nil {
			return nil
		}
	}
}
