package auth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/midge-mqtt/midge/internal/testtool"
)

// matrixWant is what each matrix client may read and write: the answers of
// mosquitto 2.0.11 for matrixACL, confirmed by TestACLAgainstMosquitto and
// kept here so the rules stay pinned where mosquitto is not installed.
// Notable rows: "anonymous with + in id" loses every pattern (CVE-2017-7650)
// but keeps the anonymous section; "alice with # in id" keeps her own list;
// "empty username" is anonymous; bob's "topic read #" gives no $ topic;
// carol's own "read clients/+/blocked" wins over the deny pattern because
// a client's list is consulted before any pattern.
var matrixWant = map[string]struct{ read, write []string }{
	"anonymous": {
		read:  []string{"anon/read", "anon/rw", "public/x", "public", "clients/c1/x", "prefixc1", "nosubst/x"},
		write: []string{"anon/write", "anon/rw", "clients/c1/x"},
	},
	"anonymous with + in id": {
		read:  []string{"anon/read", "anon/rw", "public/x", "public"},
		write: []string{"anon/write", "anon/rw"},
	},
	"alice": {
		read:  []string{"alice/x", "alice", "shared/a/status", "alice-reopened", "$app/alice/x", "$SYS/broker/connection/b1/state", "$SYS/broker/uptime", "clients/c1/x", "users/alice/x", "prefixc1", "nosubst/x"},
		write: []string{"alice/x", "alice", "$app/alice/x", "$SYS/broker/connection/b1/state", "clients/c1/x", "up/alice/c1"},
	},
	"alice with # in id": {
		read:  []string{"alice/x", "alice", "shared/a/status", "alice-reopened", "$app/alice/x", "$SYS/broker/connection/b1/state", "$SYS/broker/uptime"},
		write: []string{"alice/x", "alice", "$app/alice/x", "$SYS/broker/connection/b1/state"},
	},
	"bob": {
		read:  []string{"anon/read", "anon/write", "anon/rw", "anon/rw/denied", "public/x", "public", "alice/x", "alice", "alice/secret", "shared/a/status", "alice-reopened", "clients/c1/x", "clients/c1/blocked", "users/alice/x", "users/a/b/x", "users//x", "up/alice/c1", "up/nobody/c1", "prefixc1", "nobody", "a/b", "spaced/x", "nosubst/x", "x/y"},
		write: []string{"alice/x", "clients/c1/x"},
	},
	"carol": {
		read:  []string{"clients/c1/x", "clients/c1/blocked", "prefixc1", "nosubst/x"},
		write: []string{"clients/c1/x"},
	},
	"user with space": {
		read:  []string{"clients/c1/x", "prefixc1", "spaced/x", "nosubst/x"},
		write: []string{"clients/c1/x", "spaced/x"},
	},
	"user without section": {
		read:  []string{"clients/c1/x", "prefixc1", "nobody", "nosubst/x"},
		write: []string{"clients/c1/x", "up/nobody/c1"},
	},
	"empty username": {
		read:  []string{"anon/read", "anon/rw", "public/x", "public", "clients/c1/x", "prefixc1", "nosubst/x"},
		write: []string{"anon/write", "anon/rw", "clients/c1/x"},
	},
	"username with #": {},
	"username with /": {
		read:  []string{"clients/c1/x", "users/a/b/x", "prefixc1", "a/b", "nosubst/x"},
		write: []string{"clients/c1/x"},
	},
	"username $app": {
		read:  []string{"$app", "clients/c1/x", "prefixc1", "nosubst/x"},
		write: []string{"clients/c1/x"},
	},
}

func TestACLMatrix(t *testing.T) {
	acl, err := ParseACL(strings.NewReader(matrixACL), "acl")
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range matrixClients {
		want, ok := matrixWant[cl.name]
		if !ok {
			t.Fatalf("no expectations for %s", cl.name)
		}
		bound := acl.For(cl.clientID, cl.username, cl.hasUsername)
		for _, access := range []Access{Read, Write} {
			allowed := map[string]bool{}
			list := want.read
			if access == Write {
				list = want.write
			}
			for _, topic := range list {
				allowed[topic] = true
			}
			for _, topic := range matrixTopics {
				got := CheckReserved(topic, access) && acl.Check(cl.clientID, cl.username, cl.hasUsername, topic, access)
				if got != allowed[topic] {
					t.Errorf("%s: %s %q = %v, want %v", cl.name, access, topic, got, allowed[topic])
				}
				if b := CheckReserved(topic, access) && bound.Check(topic, access); b != got {
					t.Errorf("%s: ClientACL %s %q = %v, ACL %v", cl.name, access, topic, b, got)
				}
				if !acl.Check(cl.clientID, cl.username, cl.hasUsername, topic, Subscribe) ||
					!bound.Check(topic, Unsubscribe) {
					t.Errorf("%s: subscribe/unsubscribe %q refused", cl.name, topic)
				}
			}
		}
	}
}

func TestParseACLErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"topic\tread\ta/b\n", `acl:1: invalid line: unknown keyword "topic\tread\ta/b"`},
		{"# ok\n  # indented comment\n", `acl:2: invalid line: unknown keyword "#"`},
		{"\ttopic x\n", `acl:1: invalid line: unknown keyword "\ttopic"`},
		{"Topic read a\n", `acl:1: invalid line: unknown keyword "Topic"`},
		{"\n\ntopic\n", `acl:3: missing topic after "topic"`},
		{"pattern   \t\n", `acl:1: missing topic after "pattern"`},
		{"topic reed a/b\n", `acl:1: invalid topic access type "reed"`},
		{"topic READ a/b\n", `acl:1: invalid topic access type "READ"`},
		{"topic read a/#/b\n", `acl:1: invalid ACL topic "a/#/b"`},
		{"pattern read a+\n", `acl:1: invalid ACL topic "a+"`},
		{"topic read a/b # comment\n", `acl:1: invalid ACL topic "a/b # comment"`},
		{"user\n", `acl:1: missing username after "user"`},
		{"user \t \r\n", `acl:1: missing username after "user"`},
		{"topic read " + strings.Repeat("a", 65536) + "\n", `acl:1: invalid ACL topic`},
		{"topic read a\x00b\n", `acl:1: NUL byte in line`},
	} {
		_, err := ParseACL(strings.NewReader(tc.in), "acl")
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("ParseACL(%.40q) = %v, want %s", tc.in, err, tc.want)
		}
	}
}

func TestParseACLQuirks(t *testing.T) {
	acl, err := ParseACL(strings.NewReader(strings.Join([]string{
		"#comment",
		"",
		"   ",
		"topic read",                 // the topic "read", readwrite
		"topic read  \t with space ", // the filter "with space"
		"   topic  deny   a/b  ",     // words may be separated by several spaces
		"topic a/#\r",                // CR trimmed, readwrite
		"user  Name With Spaces \r",
		"topic write $share/g", // accepted: only + and # are checked
		"user a\ttopic x",      // one username, tab included
		"topic read t",
		"pattern deny never/%c",
		"pattern read x/%u/%c/%%c",
	}, "\n")), "acl")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user   string
		hasU   bool
		topic  string
		access Access
		want   bool
	}{
		{"", false, "read", Read, true},
		{"", false, "read", Write, true},
		{"", false, "with space", Read, true},
		{"", false, "with space", Write, false},
		{"", false, "a/b", Read, false},
		{"", false, "a/c", Write, true},
		{"", false, "a", Write, true},
		{"Name With Spaces", true, "$share/g", Write, true},
		{"Name With Spaces", true, "read", Read, false},
		{"a\ttopic x", true, "t", Read, true},
		{"a", true, "t", Read, false},
		{"u", true, "never/c1", Read, false},
		{"u", true, "x/u/c1/%c1", Read, true},
	} {
		if got := acl.Check("c1", tc.user, tc.hasU, tc.topic, tc.access); got != tc.want {
			t.Errorf("Check(%q, %q, %s) = %v, want %v", tc.user, tc.topic, tc.access, got, tc.want)
		}
	}
	if len(acl.Warnings()) != 0 {
		t.Errorf("unexpected warnings %v", acl.Warnings())
	}
}

func TestParseACLWarnings(t *testing.T) {
	acl, err := ParseACL(strings.NewReader("topic a\npattern read plain/#\npattern deny %cx\n"), "acl")
	if err != nil {
		t.Fatal(err)
	}
	w := acl.Warnings()
	if len(w) != 1 || w[0].Error() != `acl:2: ACL pattern "plain/#" does not contain %c or %u` {
		t.Fatalf("warnings %v", w)
	}
}

func TestACLEmptyAndDefaultDeny(t *testing.T) {
	acl, err := ParseACL(strings.NewReader("# nothing\n"), "acl")
	if err != nil {
		t.Fatal(err)
	}
	for _, hasU := range []bool{false, true} {
		if acl.Check("c", "u", hasU, "a", Read) || acl.Check("c", "u", hasU, "a", Write) {
			t.Error("an empty ACL file must deny everything")
		}
		if !acl.Check("c", "u", hasU, "a", Subscribe) {
			t.Error("subscribe must be allowed")
		}
	}
	// A user section with no rule still hides the anonymous section.
	acl, _ = ParseACL(strings.NewReader("topic a\nuser u\n"), "acl")
	if acl.Check("c", "u", true, "a", Read) || !acl.Check("c", "", false, "a", Read) {
		t.Error("anonymous rules must apply to anonymous clients only")
	}
}

func TestMatchFilter(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"a/+", "a/b", true},
		{"a/+", "a/", true},
		{"a/+", "a", false},
		{"a/+", "a/b/c", false},
		{"+", "a", true},
		{"+", "/", false},
		{"+/+", "/", true},
		{"/+", "/a", true},
		{"+/#", "a", true},
		{"a/#", "a", true},
		{"a/#", "a/", true},
		{"a/#", "a/b/c", true},
		{"a/#", "ab", false},
		{"a/b/#", "a/b", true},
		{"a/+/#", "a/b", true},
		{"#", "a/b", true},
		{"#", "/", true},
		{"a/", "a/", true},
		{"a/", "a", false},
		{"a//b", "a//b", true},
		{"a/+/b", "a//b", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"$SYS/#", "$SYS", true},
		{"$SYS/+", "$SYS/x", true},
		{"$a", "a", false},
		{"a", "$a", false},
		{"", "a", false},
		{"a", "", false},
		{"a/+", "a/+", false}, // wildcards in a topic match nothing
		{"#", "a/#", false},
	} {
		if got := matchFilter(tc.filter, tc.topic); got != tc.want {
			t.Errorf("matchFilter(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
		if got := matchFilter([]byte(tc.filter), tc.topic); got != tc.want {
			t.Errorf("matchFilter([]byte %q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		filter, want string
		hasU         bool
	}{
		{"%c/%u", "cid/user", true},
		{"%c/%u", "cid/%u", false},
		{"%%c", "%cid", true},
		{"%", "%", true},
		{"a%", "a%", true},
		{"%x%c%", "%xcid%", true},
		{"%u%u", "useruser", true},
	} {
		if got := string(expand(nil, tc.filter, "cid", "user", tc.hasU)); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.filter, got, tc.want)
		}
	}
}

func TestCheckReserved(t *testing.T) {
	for _, tc := range []struct {
		topic  string
		access Access
		want   bool
	}{
		{"a/b", Write, true},
		{"$SYS/broker/uptime", Write, false},
		{"$SYS/broker/uptime", Read, true},
		{"$SYS/broker/connection/b1/state", Write, true},
		{"$SYS/broker/connection/b1/other", Write, false},
		{"$SYSTEM", Write, false}, // prefix compare, as Mosquitto
		{"$share/g/a", Write, false},
		{"$share/g/a", Read, false},
		{"$share/g/a", Subscribe, true},
		{"$share/g/a", Unsubscribe, true},
		{"$app/x", Write, true},
		{"", Write, true},
	} {
		if got := CheckReserved(tc.topic, tc.access); got != tc.want {
			t.Errorf("CheckReserved(%q, %s) = %v, want %v", tc.topic, tc.access, got, tc.want)
		}
	}
}

func TestACLCheckAllocs(t *testing.T) {
	acl, err := ParseACL(strings.NewReader(matrixACL), "acl")
	if err != nil {
		t.Fatal(err)
	}
	bound := acl.For("c1", "nobody", true)
	for name, fn := range map[string]func(){
		"user rule":     func() { acl.Check("c1", "alice", true, "alice/x", Write) },
		"pattern":       func() { acl.Check("c1", "nobody", true, "up/nobody/c1", Write) },
		"denied":        func() { acl.Check("c1", "nobody", true, "x/y/z", Read) },
		"bound pattern": func() { bound.Check("up/nobody/c1", Write) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocations per check, want 0", name, n)
		}
	}
}

func TestACLConcurrent(t *testing.T) {
	acl, err := ParseACL(strings.NewReader(matrixACL), "acl")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			cl := matrixClients[i%len(matrixClients)]
			for range 200 {
				for _, topic := range matrixTopics {
					acl.Check(cl.clientID, cl.username, cl.hasUsername, topic, Read)
				}
			}
		})
	}
	wg.Wait()
}

func TestLoadACL(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "acl")
	if err := os.WriteFile(path, []byte("topic read a\nbogus\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadACL(path)
	if err == nil || err.Error() != path+`:2: invalid line: unknown keyword "bogus" (want topic, pattern or user)` {
		t.Errorf("LoadACL: %v", err)
	}
	if _, err := LoadACL(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// aclSnippets are single files that mosquitto 2.0.11 must start with (ok)
// or refuse, as ParseACL does; TestACLParseAgainstMosquitto runs them.
var aclSnippets = []struct {
	in string
	ok bool
}{
	{"topic read a/b\n", true},
	{"topic\tread\ta/b\n", false},
	{"  # indented comment\n", false},
	{"#comment\n\n   \ntopic a\n", true},
	{"topic\n", false},
	{"topic read\n", true},
	{"topic reed a/b\n", false},
	{"topic read a/#/b\n", false},
	{"topic read a+\n", false},
	{"user\n", false},
	{"user   \n", false},
	{"foo bar\n", false},
	{"Topic read a\n", false},
	{"pattern read a/b\n", true},
	{"pattern read %c/#\npattern write foo/%u%c\n", true},
	{"topic read a b c\n", true},
	{"topic read  \t a b \t \n", true},
	{"topic read $share/g\n", true},
	{"topic read a\r\n", true},
	{"topic deny #\n", true},
	{"\ttopic x\n", false},
	{" topic x\n", true},
	{"user a\ttopic x\n", true},
	{"topic read a/b # comment\n", false},
	{"pattern   \n", false},
}

func TestParseACLSnippets(t *testing.T) {
	for _, s := range aclSnippets {
		if _, err := ParseACL(strings.NewReader(s.in), "acl"); (err == nil) != s.ok {
			t.Errorf("ParseACL(%q): %v, want ok=%v", s.in, err, s.ok)
		}
	}
}

func TestACLParseAgainstMosquitto(t *testing.T) {
	testtool.Need(t, "mosquitto")
	for i, s := range aclSnippets {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			path := filepath.Join(readableTempDir(t), "acl")
			if err := os.WriteFile(path, []byte(s.in), 0o644); err != nil {
				t.Fatal(err)
			}
			_, ok, log := runMosquitto(t, "allow_anonymous true", "acl_file "+path)
			if ok != s.ok {
				t.Errorf("mosquitto with %q: started=%v, want %v\n%s", s.in, ok, s.ok, log)
			}
		})
	}
}

func BenchmarkACLCheck(b *testing.B) {
	acl, err := ParseACL(strings.NewReader(matrixACL), "acl")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("user", func(b *testing.B) {
		for b.Loop() {
			acl.Check("c1", "alice", true, "alice/x/y/z", Write)
		}
	})
	b.Run("pattern", func(b *testing.B) {
		for b.Loop() {
			acl.Check("c1", "nobody", true, "up/nobody/c1", Write)
		}
	})
	bound := acl.For("c1", "nobody", true)
	b.Run("bound-pattern", func(b *testing.B) {
		for b.Loop() {
			bound.Check("up/nobody/c1", Write)
		}
	})
}
