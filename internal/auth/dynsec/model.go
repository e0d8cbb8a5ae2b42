package dynsec

import (
	"slices"
	"strings"

	"github.com/midge-mqtt/midge/internal/ascii"
)

// The model is the plugin's configuration as the control commands edit
// it. It is owned by Security.Handle (under its mutex); readers use the
// compiled view instead. Every list keeps the order Mosquitto keeps, since
// the order is both the evaluation order and the order of every listing:
//
//   - clients, groups and roles by name (byte order);
//   - a client's or group's roles, and a client's groups, by priority,
//     highest first, then by name;
//   - a group's clients by username;
//   - a role's ACLs of each type by priority, highest first, then in the
//     order they were added.

// optString is a C string that may be NULL: an empty textname is still
// reported, a missing one is not.
type optString struct {
	s  string
	ok bool
}

func some(s string) optString { return optString{s: s, ok: true} }

// aclType indexes a role's ACL lists, in the order the plugin writes them.
type aclType int

const (
	aclPublishSend aclType = iota
	aclPublishReceive
	aclSubscribeLiteral
	aclSubscribePattern
	aclUnsubscribeLiteral
	aclUnsubscribePattern
	numACLTypes
)

var aclTypeNames = [numACLTypes]string{
	"publishClientSend",
	"publishClientReceive",
	"subscribeLiteral",
	"subscribePattern",
	"unsubscribeLiteral",
	"unsubscribePattern",
}

// parseACLType matches an acltype as the plugin does, ignoring case.
func parseACLType(s string) (aclType, bool) {
	for t, name := range aclTypeNames {
		if ascii.EqualFold(s, name) {
			return aclType(t), true
		}
	}
	return 0, false
}

// The four kinds of access, as defaultACLAccess names them.
const (
	defaultSend = iota
	defaultReceive
	defaultSubscribe
	defaultUnsubscribe
	numDefaults
)

var defaultNames = [numDefaults]string{"publishClientSend", "publishClientReceive", "subscribe", "unsubscribe"}

type acl struct {
	topic    string
	priority int
	allow    bool
	seq      uint64 // order of addition: the last of equal literal topics wins
}

type role struct {
	name            string
	textName        optString
	textDescription optString
	acls            [numACLTypes][]acl
}

type roleRef struct {
	role     *role
	priority int
}

type groupRef struct {
	group    *group
	priority int
}

type clientRef struct {
	client   *client
	priority int
}

type client struct {
	username        string
	clientID        optString // the only client id this user may connect with
	textName        optString
	textDescription optString
	password        *password // nil: no password, the plugin defers
	disabled        bool
	roles           []roleRef
	groups          []groupRef
}

type group struct {
	name            string
	textName        optString
	textDescription optString
	roles           []roleRef
	clients         []clientRef
}

type model struct {
	defaults  [numDefaults]bool
	clients   []*client
	groups    []*group
	roles     []*role
	anonymous *group // the group of clients without a username, or nil
	aclSeq    uint64
}

// Lookups and sorted insertion for the three top-level lists.

func byName[T any](list []T, name string, key func(T) string) (int, bool) {
	return slices.BinarySearchFunc(list, name, func(e T, n string) int { return strings.Compare(key(e), n) })
}

func clientName(c *client) string { return c.username }
func groupName(g *group) string   { return g.name }
func roleName(r *role) string     { return r.name }

func (m *model) client(name string) *client {
	if i, ok := byName(m.clients, name, clientName); ok {
		return m.clients[i]
	}
	return nil
}

func (m *model) group(name string) *group {
	if i, ok := byName(m.groups, name, groupName); ok {
		return m.groups[i]
	}
	return nil
}

func (m *model) role(name string) *role {
	if i, ok := byName(m.roles, name, roleName); ok {
		return m.roles[i]
	}
	return nil
}

func (m *model) insertClient(c *client) {
	i, _ := byName(m.clients, c.username, clientName)
	m.clients = slices.Insert(m.clients, i, c)
}

func (m *model) insertGroup(g *group) {
	i, _ := byName(m.groups, g.name, groupName)
	m.groups = slices.Insert(m.groups, i, g)
}

func (m *model) insertRole(r *role) {
	i, _ := byName(m.roles, r.name, roleName)
	m.roles = slices.Insert(m.roles, i, r)
}

// removeClient deletes c from the model: from the list and from every
// group.
func (m *model) removeClient(c *client) {
	for _, g := range c.groups {
		g.group.clients = slices.DeleteFunc(g.group.clients, func(r clientRef) bool { return r.client == c })
	}
	c.groups = nil
	if i, ok := byName(m.clients, c.username, clientName); ok {
		m.clients = slices.Delete(m.clients, i, i+1)
	}
}

// removeGroup deletes g from the model: from the list and from every
// client that was in it.
func (m *model) removeGroup(g *group) {
	for _, c := range g.clients {
		c.client.groups = slices.DeleteFunc(c.client.groups, func(r groupRef) bool { return r.group == g })
	}
	g.clients = nil
	if i, ok := byName(m.groups, g.name, groupName); ok {
		m.groups = slices.Delete(m.groups, i, i+1)
	}
	if m.anonymous == g {
		m.anonymous = nil
	}
}

// removeRole deletes r from the model and from every client and group
// that had it.
func (m *model) removeRole(r *role) {
	for _, c := range m.clients {
		c.roles = removeRoleRef(c.roles, r)
	}
	for _, g := range m.groups {
		g.roles = removeRoleRef(g.roles, r)
	}
	if i, ok := byName(m.roles, r.name, roleName); ok {
		m.roles = slices.Delete(m.roles, i, i+1)
	}
}

// Ordered lists of references, inserted as uthash's HASH_ADD_INORDER
// does: before the first element that sorts after the new one.

func insertOrdered[T any](list []T, item T, after func(existing, added T) bool) []T {
	for i, e := range list {
		if after(e, item) {
			return slices.Insert(list, i, item)
		}
	}
	return append(list, item)
}

// byPriorityThenName orders higher priorities first and equal ones by
// name.
func byPriorityThenName(existingPrio, addedPrio int, existingName, addedName string) bool {
	if existingPrio != addedPrio {
		return addedPrio > existingPrio
	}
	return existingName > addedName
}

func hasRole(list []roleRef, r *role) bool {
	return slices.ContainsFunc(list, func(e roleRef) bool { return e.role == r })
}

// addRoleRef adds r to list; false if it is there already.
func addRoleRef(list []roleRef, r *role, priority int) ([]roleRef, bool) {
	if hasRole(list, r) {
		return list, false
	}
	return insertOrdered(list, roleRef{r, priority}, func(e, n roleRef) bool {
		return byPriorityThenName(e.priority, n.priority, e.role.name, n.role.name)
	}), true
}

func removeRoleRef(list []roleRef, r *role) []roleRef {
	return slices.DeleteFunc(list, func(e roleRef) bool { return e.role == r })
}

func hasMember(g *group, c *client) bool {
	return slices.ContainsFunc(g.clients, func(e clientRef) bool { return e.client == c })
}

// join puts c in g with priority; false if it is a member already.
func join(c *client, g *group, priority int) bool {
	if hasMember(g, c) {
		return false
	}
	g.clients = insertOrdered(g.clients, clientRef{c, priority}, func(e, n clientRef) bool {
		return e.client.username > n.client.username
	})
	c.groups = insertOrdered(c.groups, groupRef{g, priority}, func(e, n groupRef) bool {
		return byPriorityThenName(e.priority, n.priority, e.group.name, n.group.name)
	})
	return true
}

// leave takes c out of g, if it is in it.
func leave(c *client, g *group) {
	g.clients = slices.DeleteFunc(g.clients, func(e clientRef) bool { return e.client == c })
	c.groups = slices.DeleteFunc(c.groups, func(e groupRef) bool { return e.group == g })
}

// addACL inserts a into the list of its type, after those of equal or
// higher priority.
func (m *model) addACL(r *role, t aclType, a acl) {
	m.aclSeq++
	a.seq = m.aclSeq
	r.acls[t] = insertOrdered(r.acls[t], a, func(e, n acl) bool { return n.priority > e.priority })
}

// findACL returns the index of the ACL for topic, -1 if none. Of equal
// topics (createRole and modifyRole allow them) it finds the one added
// last, as the plugin's hash does.
func findACL(list []acl, topic string) int {
	found := -1
	for i, a := range list {
		if a.topic == topic && (found < 0 || a.seq > list[found].seq) {
			found = i
		}
	}
	return found
}

// usersOfRole lists the clients that have r directly or through a group,
// and whether the anonymous group has it.
func (m *model) usersOfRole(r *role) (users []*client, anonymous bool) {
	for _, c := range m.clients {
		if hasRole(c.roles, r) {
			users = append(users, c)
			continue
		}
		for _, g := range c.groups {
			if hasRole(g.group.roles, r) {
				users = append(users, c)
				break
			}
		}
	}
	return users, m.anonymous != nil && hasRole(m.anonymous.roles, r)
}
