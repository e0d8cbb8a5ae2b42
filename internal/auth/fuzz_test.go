package auth

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParsePasswords(f *testing.F) {
	f.Add(passwordFile)
	for _, g := range goldenHashes {
		f.Add("u:" + g.hash + "\n")
	}
	for _, s := range []string{"", "\n", ":", "::\n", "a:\n", "a:$7$", "a:$7$1$$", "#x:y", "a:b:c\r\n", "a:$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := ParsePasswords(strings.NewReader(in), "fuzz")
		if err != nil {
			t.Fatalf("a strings.Reader cannot fail: %v", err)
		}
		for _, w := range p.Warnings() {
			var pe *ParseError
			if !errors.As(w, &pe) || pe.Line < 1 || pe.File != "fuzz" {
				t.Fatalf("bad warning %v", w)
			}
		}
		// Check is not called: a hostile hash may ask for 2^31 PBKDF2
		// iterations. Every stored hash must be well formed, though.
		for user, h := range p.users {
			if len(h.sum) == 0 || len(h.salt) == 0 || h.kind == 0 {
				t.Fatalf("user %q has a malformed hash %+v", user, h)
			}
		}
	})
}

func FuzzParseACL(f *testing.F) {
	f.Add(matrixACL)
	for _, s := range aclSnippets {
		f.Add(s.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		acl, err := ParseACL(strings.NewReader(in), "fuzz")
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 1 || pe.File != "fuzz" {
				t.Fatalf("error %v is not a *ParseError with a line", err)
			}
			return
		}
		for _, cl := range matrixClients {
			bound := acl.For(cl.clientID, cl.username, cl.hasUsername)
			for _, topic := range []string{"a", "a/b", "$SYS/x", "clients/c1/x", "read", "", "/"} {
				for _, access := range []Access{Read, Write} {
					if acl.Check(cl.clientID, cl.username, cl.hasUsername, topic, access) != bound.Check(topic, access) {
						t.Fatalf("ACL and ClientACL disagree for %s %s %q", cl.name, access, topic)
					}
				}
			}
		}
	})
}
