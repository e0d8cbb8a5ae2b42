package config

import (
	"bufio"
	"errors"
	"io"
	"strings"
)

// rawLine is one line of a configuration file as the parser sees it: line
// terminators removed and cut at the first NUL byte (the C implementation
// handles lines as C strings, so nothing after a NUL is ever seen).
type rawLine struct {
	num  int
	text string
}

// lineReader yields the lines of a configuration file that carry an option.
// It applies Mosquitto's rules for what is not an option: a line whose first
// byte is '#', CR or LF, an empty line, and a line of nothing but spaces.
// Note that a leading tab is not skipped: "\tport 1883" names the option
// "\tport", which is then unknown.
type lineReader struct {
	r   *bufio.Reader
	num int
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReader(r)}
}

// next returns the next line with an option on it, or io.EOF.
func (lr *lineReader) next() (rawLine, error) {
	for {
		s, err := lr.r.ReadString('\n')
		if s == "" && err != nil {
			if errors.Is(err, io.EOF) {
				return rawLine{}, io.EOF
			}
			return rawLine{}, err
		}
		lr.num++
		if i := strings.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		if s == "" || s[0] == '#' || s[0] == '\n' || s[0] == '\r' {
			continue
		}
		s = strings.TrimRight(s, "\r\n")
		if strings.Trim(s, " ") == "" {
			continue
		}
		return rawLine{num: lr.num, text: s}, nil
	}
}

// fields splits a line the way strtok(3) with a single-space delimiter does:
// words are separated by runs of spaces (tabs are ordinary characters), and
// the remainder of the line after a word can be taken whole as a string value.
type fields struct {
	s   string
	pos int // first byte not yet consumed
}

// word returns the next space-separated word and whether there was one.
func (f *fields) word() (string, bool) {
	i := f.pos
	for i < len(f.s) && f.s[i] == ' ' {
		i++
	}
	if i >= len(f.s) {
		f.pos = len(f.s)
		return "", false
	}
	j := i
	for j < len(f.s) && f.s[j] != ' ' {
		j++
	}
	w := f.s[i:j]
	if j < len(f.s) {
		j++ // the delimiter after a word is consumed with it, as strtok does
	}
	f.pos = j
	return w, true
}

// rest returns everything after the last word taken, with blanks trimmed from
// both ends. This is how string values are read, which is why a trailing
// "# comment" becomes part of the value.
func (f *fields) rest() string {
	r := f.s[f.pos:]
	f.pos = len(f.s)
	return strings.TrimFunc(r, isCSpace)
}

// isCSpace matches the characters C's isspace accepts in the "C" locale.
func isCSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}
