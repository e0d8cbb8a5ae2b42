package dynsec

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/testtool"
)

// TestChainingWithFiles pins down, against Debian's mosquitto, how the
// plugin's answers chain with password_file and acl_file when all three
// are configured (src/security.c): the plugin is asked first; only when it
// defers is the file asked; when every check defers the broker refuses
// (a CONNECT without username excepted, with allow_anonymous true). The
// ACL file never judges SUBSCRIBE and UNSUBSCRIBE: when the plugin defers
// on those they are granted.
func TestChainingWithFiles(t *testing.T) {
	pluginPath(t)
	passwd := testtool.Need(t, "mosquitto_passwd")
	dir := t.TempDir()
	pwfile := filepath.Join(dir, "passwd")
	for i, user := range [][2]string{{"both", "filepw"}, {"filey", "fp"}, {"dave", "dp"}} {
		args := []string{"-b", pwfile, user[0], user[1]}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		if out, err := exec.Command(passwd, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
		}
	}
	aclfile := filepath.Join(dir, "acl")
	if err := os.WriteFile(aclfile, []byte("user filey\ntopic readwrite filey/#\nuser both\ntopic write file/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := newInitFile(t)
	s := open(t, path)
	handle(t, s, `{"command": "createRole", "rolename": "r", "acls": [{"acltype": "publishClientSend", "topic": "dyn/#", "allow": true}, {"acltype": "publishClientSend", "topic": "dyn/no", "priority": 1, "allow": false}]},
		{"command": "createClient", "username": "both", "password": "dynpw", "roles": [{"rolename": "r"}]},
		{"command": "createClient", "username": "dave"}`)
	m := startMosquitto(t, path, "allow_anonymous true\npassword_file "+pwfile+"\nacl_file "+aclfile+"\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, tc := range []struct {
		username, password string
		dynsec             Result
		accepted           bool
	}{
		{"both", "dynpw", Allow, true},
		{"both", "filepw", Deny, false}, // the plugin said no: the file is not asked
		{"filey", "fp", Defer, true},    // unknown to the plugin: the file accepts
		{"filey", "bad", Defer, false},  // ... or refuses
		{"dave", "dp", Defer, true},     // a plugin client without a password: the file decides
		{"mallory", "x", Defer, false},  // nobody knows him
		{"", "", Defer, true},           // no username: allow_anonymous
	} {
		var pw []byte
		if tc.password != "" {
			pw = []byte(tc.password)
		}
		if got := s.Authenticate("c", tc.username, tc.username != "", pw, pw != nil); got != tc.dynsec {
			t.Errorf("%s/%s: dynsec %v, want %v", tc.username, tc.password, got, tc.dynsec)
		}
		c, err := connect(ctx, m.addr, "", tc.username, pw, nil)
		if err != nil && !isRefused(err) {
			t.Fatal(err)
		}
		if (err == nil) != tc.accepted {
			t.Errorf("%s/%s: mosquitto accepted=%v, want %v", tc.username, tc.password, err == nil, tc.accepted)
		}
		if err == nil {
			c.Close()
		}
	}

	for _, tc := range []struct {
		username, password, topic string
		access                    Access
		dynsec                    Result
		allowed                   bool
	}{
		{"both", "dynpw", "dyn/x", Write, Allow, true},
		{"both", "dynpw", "dyn/no", Write, Deny, false},
		{"both", "dynpw", "file/x", Write, Defer, true}, // the ACL file's rule for both
		{"both", "dynpw", "other", Write, Defer, false}, // nobody allows it
		{"both", "dynpw", "any/filter", Subscribe, Defer, true},
		{"filey", "fp", "filey/x", Write, Defer, true},
		{"filey", "fp", "dyn/x", Write, Defer, false},
		{"filey", "fp", "anything", Subscribe, Defer, true},
		{"filey", "fp", "anything", Unsubscribe, Defer, true},
		{"", "", "x", Subscribe, Defer, true},
	} {
		if got := s.Authorize("c", tc.username, tc.username != "", tc.topic, tc.access); got != tc.dynsec {
			t.Errorf("%s %v %s: dynsec %v, want %v", tc.username, tc.access, tc.topic, got, tc.dynsec)
		}
		var pw []byte
		if tc.password != "" {
			pw = []byte(tc.password)
		}
		c, err := connect(ctx, m.addr, "", tc.username, pw, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ok bool
		switch tc.access {
		case Write:
			_, err = c.Publish(ctx, &mqtt.Message{Topic: tc.topic, QoS: 1})
			var re *mqtt.ReasonError
			ok = err == nil
			if err != nil && !errors.As(err, &re) {
				t.Fatal(err)
			}
		case Subscribe:
			ack, err := c.Subscribe(ctx, nil, mqtt.Subscription{Filter: tc.topic})
			if err != nil {
				t.Fatal(err)
			}
			ok = ack.ReasonCodes[0] < 0x80
		case Unsubscribe:
			ack, err := c.Unsubscribe(ctx, nil, tc.topic)
			if err != nil {
				t.Fatal(err)
			}
			ok = ack.ReasonCodes[0] < 0x80
		}
		c.Close()
		if ok != tc.allowed {
			t.Errorf("%s %v %s: mosquitto allowed=%v, want %v", tc.username, tc.access, tc.topic, ok, tc.allowed)
		}
	}
}
