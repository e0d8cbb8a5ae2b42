package dynsec

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/midge-mqtt/midge/client"
)

// TestKicksAgainstMosquitto connects clients to Debian's mosquitto before
// each command and compares who it disconnects with the kicks Handle
// returns for the same command. A client is known to have been
// disconnected when a request it sends after the admin has the response
// fails: mosquitto closes the connections it kicks before it publishes
// the response.
func TestKicksAgainstMosquitto(t *testing.T) {
	pluginPath(t)
	path := newInitFile(t)
	theirs := path + ".mosquitto"
	copyFile(t, path, theirs)
	s := open(t, path)
	m := startMosquitto(t, theirs, "allow_anonymous true\n")
	a := connectAdmin(t, m.addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	victims := map[string]login{
		"alice": {"alice-1", "alice", "apw"},
		"bob":   {"bob-1", "bob", "bpw"},
		"carol": {"carol-1", "carol", "cpw"},
		"":      {"anon-1", "", ""},
	}
	bothHandle(t, a, s, `{"commands": [
		{"command": "createRole", "rolename": "r"}, {"command": "createRole", "rolename": "r2"},
		{"command": "createGroup", "groupname": "g"}, {"command": "createGroup", "groupname": "ga"},
		{"command": "createClient", "username": "alice", "password": "apw"},
		{"command": "createClient", "username": "bob", "password": "bpw"},
		{"command": "createClient", "username": "carol", "password": "cpw"}]}`)

	for _, st := range []struct {
		request string
		login   map[string]login // new credentials of the victims after the command
		extra   []Kick           // midge disconnects these too, on purpose
	}{
		{request: `{"command": "addClientRole", "username": "alice", "rolename": "r"}`},
		{request: `{"command": "removeClientRole", "username": "alice", "rolename": "r"}`},
		{request: `{"command": "addClientRole", "username": "alice", "rolename": "r"}`},
		{request: `{"command": "addGroupClient", "username": "bob", "groupname": "g"}`},
		{request: `{"command": "addGroupClient", "username": "nobody", "groupname": "g"}`},
		{request: `{"command": "addGroupRole", "groupname": "g", "rolename": "r2"}`},
		{request: `{"command": "removeGroupRole", "groupname": "g", "rolename": "r2"}`},
		{request: `{"command": "addGroupRole", "groupname": "g", "rolename": "r"}`},
		{request: `{"command": "setAnonymousGroup", "groupname": "ga"}`},
		{request: `{"command": "addGroupRole", "groupname": "ga", "rolename": "r2"}`},
		{request: `{"command": "addRoleACL", "rolename": "r", "acltype": "publishClientSend", "topic": "a/#"}`},
		{request: `{"command": "removeRoleACL", "rolename": "r", "acltype": "publishClientSend", "topic": "a/#"}`},
		{request: `{"command": "addRoleACL", "rolename": "r2", "acltype": "subscribePattern", "topic": "b/#"}`},
		{request: `{"command": "modifyRole", "rolename": "r", "acls": []}`, extra: []Kick{{Username: "alice"}, {Username: "bob"}}},
		{request: `{"command": "modifyRole", "rolename": "r", "textname": "x"}`},
		{request: `{"command": "setClientId", "username": "carol", "clientid": "carol-2"}`, login: map[string]login{"carol": {"carol-2", "carol", "cpw"}}},
		{request: `{"command": "setClientPassword", "username": "carol", "password": "cpw2"}`, login: map[string]login{"carol": {"carol-2", "carol", "cpw2"}}},
		{request: `{"command": "modifyClient", "username": "carol", "textname": "C"}`},
		{request: `{"command": "modifyClient", "username": "carol", "roles": [{"rolename": "none"}]}`},
		{request: `{"command": "disableClient", "username": "carol"}`, login: map[string]login{"carol": {}}},
		{request: `{"command": "enableClient", "username": "carol"}`, login: map[string]login{"carol": {"carol-2", "carol", "cpw2"}}},
		{request: `{"command": "modifyGroup", "groupname": "g", "textname": "G"}`},
		{request: `{"command": "modifyGroup", "groupname": "ga", "textname": "A"}`},
		{request: `{"command": "setDefaultACLAccess", "acls": [{"acltype": "subscribe", "allow": true}]}`},
		{request: `{"command": "createClient", "username": "dave"}`},
		{request: `{"command": "createGroup", "groupname": "g3"}`},
		{request: `{"command": "createRole", "rolename": "r3"}`},
		{request: `{"command": "getClient", "username": "alice"}`},
		{request: `{"command": "removeGroupClient", "username": "bob", "groupname": "g"}`},
		{request: `{"command": "removeGroupClient", "username": "carol", "groupname": "nope"}`},
		{request: `{"command": "addGroupClient", "username": "bob", "groupname": "g"}`},
		{request: `{"command": "deleteRole", "rolename": "r"}`},
		{request: `{"command": "deleteRole", "rolename": "r2"}`},
		{request: `{"command": "deleteGroup", "groupname": "g"}`},
		{request: `{"command": "deleteClient", "username": "alice"}`, login: map[string]login{"alice": {}}},
	} {
		conns := map[string]*mqtt.Client{}
		for who, l := range victims {
			if l.clientID != "" {
				conns[who] = l.connect(ctx, t, m.addr, nil)
			}
		}
		req := `{"commands": [` + st.request + `]}`
		want := a.request(req)
		got, kicks := s.Handle("ctrl-test", "admin", []byte(req))
		if string(got) != string(want) {
			t.Fatalf("%s:\nmidge     %s\nmosquitto %s", req, got, want)
		}
		var kicked []Kick
		for who, c := range conns {
			if _, err := c.Subscribe(ctx, nil, mqtt.Subscription{Filter: "probe"}); err != nil {
				kicked = append(kicked, Kick{Username: who, Anonymous: who == ""})
			}
			c.Close()
		}
		kicked = append(kicked, st.extra...)
		// midge also names usernames nobody is connected with.
		var ours []Kick
		for _, k := range kicks {
			if _, ok := conns[k.Username]; ok || k.Anonymous {
				ours = append(ours, k)
			}
		}
		if !sameKicks(ours, kicked) {
			t.Errorf("%s: midge kicks %v, mosquitto disconnected %v", st.request, ours, kicked)
		}
		for who, l := range st.login {
			victims[who] = l
		}
	}
}

func sameKicks(a, b []Kick) bool {
	key := func(k Kick) string {
		if k.Anonymous {
			return "\x00"
		}
		return k.Username
	}
	var x, y []string
	for _, k := range a {
		x = append(x, key(k))
	}
	for _, k := range b {
		y = append(y, key(k))
	}
	slices.Sort(x)
	slices.Sort(y)
	x, y = slices.Compact(x), slices.Compact(y)
	return strings.Join(x, ",") == strings.Join(y, ",")
}
