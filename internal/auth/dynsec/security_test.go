package dynsec

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// handle runs commands (the inside of a "commands" array) and fails the
// test on any error response.
func handle(t *testing.T, s *Security, commands string) []Kick {
	t.Helper()
	resp, kicks := s.Handle("ctrl-test", "admin", []byte(`{"commands": [`+commands+`]}`))
	if strings.Contains(string(resp), `"error"`) {
		t.Fatalf("%s: %s", commands, resp)
	}
	return kicks
}

type check struct {
	username string // "" for a client without one
	topic    string
	access   Access
	want     Result
}

func runChecks(t *testing.T, s *Security, step string, checks []check) {
	t.Helper()
	for _, c := range checks {
		if got := s.Authorize("cid", c.username, c.username != "", c.topic, c.access); got != c.want {
			t.Errorf("%s: %q %v %q = %v, want %v", step, c.username, c.access, c.topic, got, c.want)
		}
	}
}

// The flow of Mosquitto's 14-dynsec-acl.py: a client with no roles, then a
// group role with subscribe and unsubscribe ACLs, then publish ACLs with a
// higher priority deny, then the role deleted. The defaults are those of
// the init file: send false, receive true, subscribe false, unsubscribe
// true.
func TestACLFlow(t *testing.T) {
	s := open(t, newInitFile(t))
	handle(t, s, `{"command": "createClient", "username": "user_one", "password": "password", "clientid": "cid"}`)
	const u = "user_one"
	none := []check{
		{u, "simple/topic", Subscribe, Defer},
		{u, "single-wildcard/bob/topic", Subscribe, Defer},
		{u, "multilevel-wildcard/topic/topic/#", Subscribe, Defer},
		{u, "simple/topic", Write, Defer},
		{u, "single-wildcard/bob/topic", Write, Defer},
		{u, "simple/topic", Read, Allow},
		{u, "simple/topic", Unsubscribe, Allow},
		{u, "$CONTROL/dynamic-security/v1", Read, Defer}, // never by default
	}
	runChecks(t, s, "no roles", none)

	kicks := handle(t, s, `{"command": "createGroup", "groupname": "mygroup"},
		{"command": "createRole", "rolename": "myrole"},
		{"command": "addGroupRole", "groupname": "mygroup", "rolename": "myrole"},
		{"command": "addRoleACL", "rolename": "myrole", "acltype": "subscribeLiteral", "topic": "simple/topic", "allow": true},
		{"command": "addRoleACL", "rolename": "myrole", "acltype": "subscribePattern", "topic": "single-wildcard/+/topic", "allow": true},
		{"command": "addRoleACL", "rolename": "myrole", "acltype": "subscribePattern", "topic": "multilevel-wildcard/#", "allow": true},
		{"command": "addRoleACL", "rolename": "myrole", "acltype": "unsubscribeLiteral", "topic": "simple/topic", "allow": false},
		{"command": "addGroupClient", "groupname": "mygroup", "username": "user_one"}`)
	if !slices.Equal(kicks, []Kick{{Username: u}}) {
		t.Errorf("kicks %v", kicks)
	}
	runChecks(t, s, "subscribe ACLs", []check{
		{u, "simple/topic", Subscribe, Allow},
		{u, "single-wildcard/bob/topic", Subscribe, Allow},
		{u, "multilevel-wildcard/topic/topic/#", Subscribe, Allow},
		{u, "simple/+", Subscribe, Defer}, // a literal ACL is only that filter
		{u, "simple/topic", Write, Defer},
		{u, "simple/topic", Unsubscribe, Deny},
		{u, "single-wildcard/bob/topic", Unsubscribe, Allow},
	})

	kicks = handle(t, s, `{"command": "addRoleACL", "rolename": "myrole", "acltype": "publishClientSend", "topic": "simple/topic", "allow": true},
		{"command": "addRoleACL", "rolename": "myrole", "acltype": "publishClientSend", "topic": "single-wildcard/deny/deny", "priority": 10, "allow": false},
		{"command": "addRoleACL", "rolename": "myrole", "acltype": "publishClientSend", "topic": "single-wildcard/+/+", "allow": true},
		{"command": "addRoleACL", "rolename": "myrole", "acltype": "publishClientSend", "topic": "multilevel-wildcard/topic/#", "allow": true},
		{"command": "addRoleACL", "rolename": "myrole", "acltype": "publishClientReceive", "topic": "single-wildcard/bob/bob", "allow": false},
		{"command": "addRoleACL", "rolename": "myrole", "acltype": "publishClientReceive", "topic": "multilevel-wildcard/topic/topic/denied", "allow": false}`)
	if !slices.Equal(kicks, []Kick{{Username: u}}) {
		t.Errorf("kicks %v", kicks)
	}
	runChecks(t, s, "publish ACLs", []check{
		{u, "simple/topic", Write, Allow},
		{u, "single-wildcard/bob/topic", Write, Allow},
		{u, "single-wildcard/deny/deny", Write, Deny}, // the higher priority wins
		{u, "multilevel-wildcard/topic/topic/allowed", Write, Allow},
		{u, "multilevel-wildcard/topic/topic/denied", Write, Allow},
		{u, "multilevel-wildcard/topic/topic/denied", Read, Deny},
		{u, "multilevel-wildcard/topic/topic/allowed", Read, Allow},
		{u, "single-wildcard/bob/bob", Read, Deny},
	})

	kicks = handle(t, s, `{"command": "deleteRole", "rolename": "myrole"}`)
	if !slices.Equal(kicks, []Kick{{Username: u}}) {
		t.Errorf("kicks %v", kicks)
	}
	runChecks(t, s, "role deleted", none)
}

// Mosquitto's 14-dynsec-default-access.py, and the $CONTROL rule.
func TestDefaultAccess(t *testing.T) {
	s := open(t, newInitFile(t))
	handle(t, s, `{"command": "createClient", "username": "u", "password": "p"}`)
	set := func(acltype string, allow bool) {
		kicks := handle(t, s, fmt.Sprintf(`{"command": "setDefaultACLAccess", "acls": [{"acltype": %q, "allow": %v}]}`, acltype, allow))
		if len(kicks) != 0 {
			t.Errorf("setDefaultACLAccess kicks %v", kicks)
		}
	}
	runChecks(t, s, "init", []check{{"u", "topic", Subscribe, Defer}, {"u", "topic", Write, Defer}, {"u", "topic", Read, Allow}, {"u", "topic", Unsubscribe, Allow}})
	set("subscribe", true)
	set("publishClientSend", true)
	runChecks(t, s, "subscribe and send", []check{
		{"u", "topic", Subscribe, Allow}, {"u", "topic", Write, Allow},
		{"u", "$CONTROL/dynamic-security/v1", Write, Defer}, // granted explicitly only
		{"u", "$CONTROLx", Subscribe, Defer},                // a prefix, as in Mosquitto
		{"", "topic", Write, Allow},                         // anonymous: no group, the defaults
		{"stranger", "topic", Write, Defer},                 // not a dynsec client
	})
	set("publishClientReceive", false)
	set("unsubscribe", false)
	runChecks(t, s, "receive and unsubscribe", []check{{"u", "topic", Read, Defer}, {"u", "topic", Unsubscribe, Defer}})
	if r := s.Authorize("cid", "u", true, "topic", Access(3)); r != Defer {
		t.Errorf("an unknown access: %v", r)
	}
}

// Mosquitto's 14-dynsec-anon-group.py: clients without a username get the
// anonymous group's roles; an empty username counts as none.
func TestAnonymousGroup(t *testing.T) {
	s := open(t, newInitFile(t))
	runChecks(t, s, "no group", []check{{"", "anon/topic", Subscribe, Defer}})
	kicks := handle(t, s, `{"command": "createGroup", "groupname": "anon-clients"}, {"command": "setAnonymousGroup", "groupname": "anon-clients"}`)
	if !slices.Equal(kicks, []Kick{{Anonymous: true}}) {
		t.Errorf("kicks %v", kicks)
	}
	kicks = handle(t, s, `{"command": "createRole", "rolename": "anon"},
		{"command": "addRoleACL", "rolename": "anon", "acltype": "subscribeLiteral", "topic": "anon/topic", "allow": true},
		{"command": "addGroupRole", "groupname": "anon-clients", "rolename": "anon"}`)
	if !slices.Equal(kicks, []Kick{{Anonymous: true}}) {
		t.Errorf("kicks %v", kicks)
	}
	runChecks(t, s, "group", []check{{"", "anon/topic", Subscribe, Allow}, {"", "other", Subscribe, Defer}})
	if r := s.Authorize("c", "", true, "anon/topic", Subscribe); r != Allow {
		t.Errorf("empty username: %v", r)
	}
	if r := s.Authorize("c", "stranger", true, "anon/topic", Subscribe); r != Defer {
		t.Errorf("a client with a username is not anonymous: %v", r)
	}
}

// Mosquitto's 14-dynsec-auth.py and 14-dynsec-disable-client.py.
func TestAuthenticate(t *testing.T) {
	s := open(t, newInitFile(t))
	handle(t, s, `{"command": "createClient", "username": "user_one", "password": "password", "clientid": "cid"},
		{"command": "createClient", "username": "user_two", "password": "asdfgh"},
		{"command": "createClient", "username": "user_three"},
		{"command": "setClientId", "username": "user_two", "clientid": "new-cid"}`)
	for _, tc := range []struct {
		clientID, username, password string
		hasPassword                  bool
		want                         Result
	}{
		{"cid", "user_one", "password", true, Allow},
		{"bad-cid", "user_one", "password", true, Deny},
		{"cid", "user_one", "ttt", true, Deny},
		{"cid", "user_one", "", false, Defer}, // and so refused, having a username
		{"cid", "user_one", "", true, Defer},  // a zero-length password is none
		{"new-cid", "user_two", "asdfgh", true, Allow},
		{"no-cid", "user_two", "asdfgh", true, Deny},
		{"new-cid", "user_two", "pass", true, Deny},
		{"cid2", "user_three", "pass", true, Defer}, // no password: not ours to accept
		{"cid3", "", "", false, Defer},
		{"x", "nobody", "pw", true, Defer},
		{"x", "admin", "admin", true, Allow},
		{"x", "admin", "admin\x00junk", true, Allow}, // hashed up to the NUL
	} {
		if got := s.Authenticate(tc.clientID, tc.username, tc.username != "", []byte(tc.password), tc.hasPassword); got != tc.want {
			t.Errorf("Authenticate(%q, %q, %q) = %v, want %v", tc.clientID, tc.username, tc.password, got, tc.want)
		}
	}
	if kicks := handle(t, s, `{"command": "disableClient", "username": "user_one"}`); !slices.Equal(kicks, []Kick{{Username: "user_one"}}) {
		t.Errorf("disable kicks %v", kicks)
	}
	if got := s.Authenticate("cid", "user_one", true, []byte("password"), true); got != Deny {
		t.Errorf("disabled: %v", got)
	}
	handle(t, s, `{"command": "enableClient", "username": "user_one"}`)
	if got := s.Authenticate("cid", "user_one", true, []byte("password"), true); got != Allow {
		t.Errorf("enabled again: %v", got)
	}
}

// TestEvaluationOrder: a client's own roles come before its groups' roles,
// groups and roles in priority order, and within a role the ACLs by
// priority, and a role's literal subscribe ACL before its patterns
// whatever their priorities.
func TestEvaluationOrder(t *testing.T) {
	s := open(t, newInitFile(t))
	handle(t, s, `{"command": "createRole", "rolename": "own", "acls": [{"acltype": "publishClientSend", "topic": "a/#", "priority": -100, "allow": false}]},
		{"command": "createRole", "rolename": "ownhigh", "acls": [{"acltype": "publishClientSend", "topic": "a/b", "priority": -100, "allow": true}]},
		{"command": "createRole", "rolename": "low", "acls": [{"acltype": "publishClientSend", "topic": "#", "priority": 100, "allow": true}]},
		{"command": "createRole", "rolename": "high", "acls": [{"acltype": "publishClientSend", "topic": "x/#", "allow": false},
			{"acltype": "subscribePattern", "topic": "s/#", "priority": 100, "allow": false},
			{"acltype": "subscribeLiteral", "topic": "s/t", "priority": -100, "allow": true},
			{"acltype": "publishClientSend", "topic": "x/y", "priority": 1, "allow": true}]},
		{"command": "createGroup", "groupname": "g1", "roles": [{"rolename": "low"}]},
		{"command": "createGroup", "groupname": "g2", "roles": [{"rolename": "high"}]},
		{"command": "createClient", "username": "u", "roles": [{"rolename": "own", "priority": 1}, {"rolename": "ownhigh", "priority": 2}],
			"groups": [{"groupname": "g1", "priority": 1}, {"groupname": "g2", "priority": 2}]}`)
	runChecks(t, s, "order", []check{
		{"u", "a/b", Write, Allow},   // ownhigh before own: role priority, not ACL priority
		{"u", "a/c", Write, Deny},    // own before any group
		{"u", "x/y", Write, Allow},   // g2 before g1, and x/y's priority 1 before x/#
		{"u", "x/z", Write, Deny},    // g2's x/#
		{"u", "other", Write, Allow}, // g1's #
		{"u", "s/t", Subscribe, Allow},
		{"u", "s/u", Subscribe, Deny},
	})
	handle(t, s, `{"command": "modifyClient", "username": "u", "groups": [{"groupname": "g1", "priority": 3}, {"groupname": "g2", "priority": 2}]}`)
	runChecks(t, s, "groups swapped", []check{{"u", "x/z", Write, Allow}})
}

// TestConcurrentUse: checks run while requests change the configuration
// (for the race detector).
func TestConcurrentUse(t *testing.T) {
	s := open(t, newInitFile(t))
	handle(t, s, `{"command": "createClient", "username": "u", "password": "p"}, {"command": "createRole", "rolename": "r"}`)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.Authorize("c", "u", true, "t/1", Write)
				s.Authorize("c", "", false, "t/1", Subscribe)
				s.Authenticate("c", "u", true, []byte("p"), true)
			}
		})
	}
	for i := range 50 {
		handle(t, s, fmt.Sprintf(`{"command": "addRoleACL", "rolename": "r", "acltype": "publishClientSend", "topic": "t/%d", "allow": true},
			{"command": "addClientRole", "username": "u", "rolename": "r"},
			{"command": "setClientPassword", "username": "u", "password": "p%d"},
			{"command": "removeClientRole", "username": "u", "rolename": "r"}`, i, i))
	}
	close(stop)
	wg.Wait()
	if r := s.Authenticate("c", "u", true, []byte("p49"), true); r != Allow {
		t.Errorf("last password: %v", r)
	}
}
