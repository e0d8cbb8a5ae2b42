package auth

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/midge-mqtt/midge/internal/packet"
)

// matrixACL exercises every rule kind. It is shared by the table test and by
// the interop test, which runs it through mosquitto 2.0.11.
const matrixACL = `# anonymous section: topic lines before the first user line
topic read anon/read
topic write anon/write
topic anon/rw
topic deny anon/rw/denied
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret
topic read shared/+/status
topic readwrite $app/alice/#
topic read $SYS/#
topic write $SYS/broker/connection/+/state

user bob
topic read #
topic write alice/x

user with space
topic readwrite spaced/#

user carol
topic read clients/+/blocked

# a user section can be reopened
user alice
topic read alice-reopened

pattern readwrite clients/%c/#
pattern read users/%u/#
pattern write up/%u/%c
pattern deny clients/%c/blocked
pattern read %u
pattern read prefix%c
pattern read nosubst/#
`

// observerACL is appended for the interop test: a user who can read and
// write every topic of the matrix, to publish what others should read and to
// see what others managed to publish.
const observerACL = `
user observer
topic readwrite #
topic readwrite $app/#
topic readwrite $SYS/#
`

type aclClient struct {
	name string
	login
}

var matrixClients = []aclClient{
	{"anonymous", login{clientID: "c1"}},
	{"anonymous with + in id", login{clientID: "c+1"}},
	{"alice", login{clientID: "c1", username: "alice", hasUsername: true}},
	{"alice with # in id", login{clientID: "c#1", username: "alice", hasUsername: true}},
	{"bob", login{clientID: "c1", username: "bob", hasUsername: true}},
	{"carol", login{clientID: "c1", username: "carol", hasUsername: true}},
	{"user with space", login{clientID: "c1", username: "with space", hasUsername: true}},
	{"user without section", login{clientID: "c1", username: "nobody", hasUsername: true}},
	{"empty username", login{clientID: "c1", username: "", hasUsername: true}},
	{"username with #", login{clientID: "c1", username: "al#ce", hasUsername: true}},
	{"username with /", login{clientID: "c1", username: "a/b", hasUsername: true}},
	{"username $app", login{clientID: "c1", username: "$app", hasUsername: true}},
}

var matrixTopics = []string{
	"anon/read", "anon/write", "anon/rw", "anon/rw/denied", "public/x", "public",
	"alice/x", "alice", "alice/secret", "shared/a/status", "alice-reopened",
	"$app/alice/x", "$app", "$SYS/broker/connection/b1/state", "$SYS/broker/uptime", "$share/g/alice/x",
	"clients/c1/x", "clients/c1/blocked", "users/alice/x", "users/a/b/x", "users//x",
	"up/alice/c1", "up/nobody/c1", "prefixc1", "nobody", "a/b", "spaced/x", "nosubst/x", "x/y",
}

// TestACLAgainstMosquitto runs mosquitto 2.0 with matrixACL and compares,
// for every client and topic, what the broker delivers and accepts with
// ACL.Check, ClientACL.Check and CheckReserved. It also confirms that the
// ACL file does not check SUBSCRIBE: every SUBACK grants the QoS asked for.
func TestACLAgainstMosquitto(t *testing.T) {
	dir := readableTempDir(t)
	aclPath := filepath.Join(dir, "acl")
	if err := os.WriteFile(aclPath, []byte(matrixACL+observerACL), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := startMosquitto(t, "allow_anonymous true", "acl_file "+aclPath)
	acl, err := ParseACL(strings.NewReader(matrixACL+observerACL), "acl")
	if err != nil {
		t.Fatal(err)
	}
	obs, rc := connect(t, addr, login{clientID: "observer", username: "observer", hasUsername: true})
	if obs == nil {
		t.Fatalf("observer refused: %d", rc)
	}
	if codes := obs.subscribe(matrixTopics...); !allGranted(codes) {
		t.Fatalf("observer SUBACK %v", codes)
	}

	var seen [2]int // observed denials and grants: the matrix must have both
	for _, cl := range matrixClients {
		c, rc := connect(t, addr, cl.login)
		if c == nil {
			t.Fatalf("%s: CONNACK %d", cl.name, rc)
		}
		bound := acl.For(cl.clientID, cl.username, cl.hasUsername)

		// Read: the client subscribes to every topic (all granted), the
		// observer publishes each one it is allowed to write.
		if codes := c.subscribe(matrixTopics...); !allGranted(codes) {
			t.Errorf("%s: SUBACK %v, want every subscription granted (acl_file does not check SUBSCRIBE)", cl.name, codes)
		}
		for _, topic := range matrixTopics {
			if !acl.Check("observer", "observer", true, topic, Subscribe) {
				t.Errorf("%s: Check(Subscribe) refused %q", cl.name, topic)
			}
		}
		var readable []string
		for _, topic := range matrixTopics {
			if CheckReserved(topic, Write) {
				readable = append(readable, topic)
				obs.publish(topic, "read-test")
			}
		}
		c.barrier()
		got := topicsOf(c.take())
		for _, topic := range readable {
			want := CheckReserved(topic, Read) && acl.Check(cl.clientID, cl.username, cl.hasUsername, topic, Read)
			seen[b2i(got[topic])]++
			if got[topic] != want {
				t.Errorf("%s: read %q: mosquitto %v, ACL.Check %v", cl.name, topic, got[topic], want)
			}
			if b := CheckReserved(topic, Read) && bound.Check(topic, Read); b != want {
				t.Errorf("%s: read %q: ClientACL.Check %v, ACL.Check %v", cl.name, topic, b, want)
			}
		}
		obs.barrier()
		obs.take() // the observer's own read-test messages

		// Write: the client publishes every topic; the observer, who reads
		// everything, sees what the broker accepted.
		payload := "write-test " + cl.name
		for _, topic := range matrixTopics {
			c.publish(topic, payload)
		}
		obs.barrier()
		got = map[string]bool{}
		for _, p := range obs.take() {
			if string(p.Payload) == payload {
				got[p.Topic] = true
			}
		}
		for _, topic := range matrixTopics {
			want := CheckReserved(topic, Write) && acl.Check(cl.clientID, cl.username, cl.hasUsername, topic, Write)
			seen[b2i(got[topic])]++
			if got[topic] != want {
				t.Errorf("%s: write %q: mosquitto %v, ACL.Check %v", cl.name, topic, got[topic], want)
			}
			if b := CheckReserved(topic, Write) && bound.Check(topic, Write); b != want {
				t.Errorf("%s: write %q: ClientACL.Check %v, ACL.Check %v", cl.name, topic, b, want)
			}
		}
		c.send(&packet.Disconnect{})
		c.conn.Close()
	}
	if seen[0] == 0 || seen[1] == 0 {
		t.Errorf("mosquitto denied %d and allowed %d checks: the test observed nothing", seen[0], seen[1])
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func allGranted(codes []packet.ReasonCode) bool {
	for _, c := range codes {
		if c != 0 {
			return false
		}
	}
	return true
}

func topicsOf(pubs []*packet.Publish) map[string]bool {
	m := map[string]bool{}
	for _, p := range pubs {
		m[p.Topic] = true
	}
	return m
}

// TestPasswordsAgainstMosquitto logs in to mosquitto 2.0 with
// passwordFile and compares every CONNACK with Passwords.Check.
func TestPasswordsAgainstMosquitto(t *testing.T) {
	dir := readableTempDir(t)
	path := filepath.Join(dir, "pw")
	// mosquitto 2.0 cannot read argon2id: drop that line for the broker.
	var lines []string
	for _, l := range strings.Split(passwordFile, "\n") {
		if !strings.HasPrefix(l, "argon:") {
			lines = append(lines, l)
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := startMosquitto(t, "allow_anonymous false", "password_file "+path)
	pw, err := LoadPasswords(path)
	if err != nil {
		t.Fatal(err)
	}
	users := []string{"good7", "good6", "spaced", "  spaced  ", "crlf", "plain", "dup", "extra", "dbl", "empty",
		"#notcomment", "salt16", "nocolonline", "dupb", "ws", "last", "nul", "after", "nobody", ""}
	for i, user := range users {
		for j, password := range []string{"secret", "x", "plain", ""} {
			l := login{clientID: fmt.Sprintf("p%d-%d", i, j), username: user, hasUsername: true, password: password, hasPassword: true}
			c, rc := connect(t, addr, l)
			if c != nil {
				c.conn.Close()
			}
			want := pw.Check(user, password) == nil
			if (rc == 0) != want {
				t.Errorf("login %q/%q: mosquitto CONNACK %d, Check %v", user, password, rc, pw.Check(user, password))
			}
			if rc != 0 && rc != 5 {
				t.Errorf("login %q/%q: CONNACK %d, want 5 (not authorised)", user, password, rc)
			}
		}
		// A username without a password is refused even for a known user.
		_, rc := connect(t, addr, login{clientID: fmt.Sprintf("np%d", i), username: user, hasUsername: true})
		if rc != 5 {
			t.Errorf("login %q without password: CONNACK %d, want 5", user, rc)
		}
	}
	// Anonymous clients are refused with allow_anonymous false.
	if _, rc := connect(t, addr, login{clientID: "anon"}); rc != 5 {
		t.Errorf("anonymous login: CONNACK %d, want 5", rc)
	}
}
