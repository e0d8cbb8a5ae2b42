package passwd

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// prompter asks for a password twice, as mosquitto_passwd's get_password:
// the prompts go to stdout, followed by a newline once a password is read
// (the terminal does not echo one), and the errors to stderr.
type prompter struct {
	stdin          io.Reader
	lines          *bufio.Reader // for a stdin that is not a terminal
	stdout, stderr io.Writer
}

func newPrompter(stdin io.Reader, stdout, stderr io.Writer) *prompter {
	return &prompter{stdin: stdin, stdout: stdout, stderr: stderr}
}

// exitInterrupted is the status after ^C at a prompt. mosquitto_passwd
// exits 0 there, which tells a caller that a password was set when none
// was; 128+SIGINT is what shells report for an interrupted command.
const exitInterrupted = 130

// get returns the password, or the exit status: 1 when a password is empty
// or missing, 2 when the two differ.
func (p *prompter) get() (string, int) {
	first, rc := p.read("Password: ")
	if rc != 0 {
		return "", rc
	}
	second, rc := p.read("Reenter password: ")
	if rc != 0 {
		return "", rc
	}
	if first != second {
		fmt.Fprint(p.stderr, "Error: Passwords do not match.\n")
		return "", 2
	}
	return first, 0
}

// read prompts for one password and returns it, or an exit status.
func (p *prompter) read(prompt string) (string, int) {
	fmt.Fprint(p.stdout, prompt)
	var s string
	if f, ok := p.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		var interrupted bool
		s, interrupted = readTerminal(f)
		if interrupted {
			fmt.Fprint(p.stdout, "\n")
			return "", exitInterrupted
		}
	} else {
		// Like fgets on a pipe: one line per prompt, from one buffer so
		// that the second prompt gets the second line.
		if p.lines == nil {
			p.lines = bufio.NewReader(p.stdin)
		}
		s, _ = p.lines.ReadString('\n')
	}
	// mosquitto_passwd strips the line ending, CR included ("abc\r\n" is
	// "abc"), and keeps other trailing blanks.
	s = strings.TrimRight(s, "\r\n")
	if s == "" {
		fmt.Fprint(p.stderr, "Error: Empty password.\n")
		return "", 1
	}
	fmt.Fprint(p.stdout, "\n")
	return s, 0
}

// readTerminal reads a line with echo off. On SIGINT or SIGTERM it restores
// the terminal, which mosquitto_passwd also does before it exits, and
// reports an interruption; the reading goroutine is abandoned, since the
// program is about to exit.
func readTerminal(f *os.File) (string, bool) {
	fd := int(f.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return "", true
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && len(r.b) == 0 {
			return "", false
		}
		return string(r.b), false
	case <-sig:
		_ = term.Restore(fd, state)
		return "", true
	}
}
