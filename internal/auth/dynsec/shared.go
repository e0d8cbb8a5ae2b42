package dynsec

import (
	"errors"
	"maps"
	"os"
	"slices"
	"time"
)

// A configuration's version orders its changes across the nodes of a
// cluster, where every node keeps a copy and any node may change it: the
// higher version wins. It is a time in nanoseconds since 1970, at least
// one above the version it replaces, and it is kept as the file's
// modification time, so that a node restarted with its file still knows
// which of two configurations is the later one.

// versionOf returns the version of the file at path: its modification
// time, 0 when it does not exist.
func versionOf(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.ModTime().UnixNano()
}

// nextVersion is the version of a change made now to a configuration at
// version v.
func nextVersion(v int64) int64 {
	return max(time.Now().UnixNano(), v+1)
}

// save writes the model to the file and stamps it with the version. Called
// with s.mu held.
func (s *Security) save() {
	err := writeFile(s.path, s.model.encode())
	if err == nil {
		t := time.Unix(0, s.version)
		err = os.Chtimes(s.path, t, t)
	}
	if err != nil {
		s.log.Error("dynsec: error saving the configuration file; the change is in force but not saved", "file", s.path, "err", err)
		s.unsaved = true
		return
	}
	s.unsaved = false
}

// Version returns the configuration's version (see Snapshot).
func (s *Security) Version() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// Snapshot returns the configuration's version and its file's contents. A
// version grows with every change Handle or Adopt makes; of two
// configurations the one with the higher version is the later.
func (s *Security) Snapshot() (version int64, doc []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, s.model.encode()
}

// ErrNotNewer is what Adopt returns for a configuration that is not newer
// than the one in force.
var ErrNotNewer = errors.New("dynsec: not newer than the configuration in force")

// Adopt replaces the configuration with doc, another node's configuration
// at version, if that is newer than this one's; it is saved to the file
// and in force when Adopt returns. It returns the clients whose rights
// differ between the two: those a node that missed the changes must
// disconnect (a node told of a change as it is made disconnects the ones
// the change names instead, as Handle returned them on the node that made
// it). A doc that is not a valid configuration changes nothing.
func (s *Security) Adopt(version int64, doc []byte) ([]Kick, error) {
	m, err := decodeModel(doc, s.log)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if version <= s.version {
		return nil, ErrNotNewer
	}
	old := s.view.Load()
	s.model, s.version = m, version
	v := compile(m)
	s.view.Store(v)
	s.save()
	return changedRights(old, v), nil
}

// changedRights lists who holds different rights in view b than in a: a
// client added, removed, or whose password, client id, state or roles'
// ACLs differ, and the anonymous clients if the anonymous group's roles
// differ. The default access is everyone's and, as setDefaultACLAccess,
// disconnects nobody.
func changedRights(a, b *view) []Kick {
	var kicks []Kick
	for _, name := range slices.Sorted(maps.Keys(a.clients)) {
		if !sameClient(a.clients[name], b.clients[name]) {
			kicks = append(kicks, Kick{Username: name})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(b.clients)) {
		if _, ok := a.clients[name]; !ok {
			kicks = append(kicks, Kick{Username: name})
		}
	}
	if !slices.EqualFunc(a.anonymous, b.anonymous, sameRole) || (a.anonymous == nil) != (b.anonymous == nil) {
		kicks = append(kicks, Kick{Anonymous: true})
	}
	return kicks
}

func sameClient(a, b *viewClient) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.clientID != b.clientID || a.disabled != b.disabled || (a.password == nil) != (b.password == nil) {
		return false
	}
	if a.password != nil && *a.password != *b.password {
		return false
	}
	return slices.EqualFunc(a.roles, b.roles, sameRole)
}

func sameRole(a, b *viewRole) bool {
	return sameACLs(a.publishSend, b.publishSend) && sameACLs(a.publishReceive, b.publishReceive) &&
		sameLiteralsAndPatterns(&a.subscribe, &b.subscribe) && sameLiteralsAndPatterns(&a.unsubscribe, &b.unsubscribe)
}

func sameLiteralsAndPatterns(a, b *literalsAndPatterns) bool {
	return maps.Equal(a.literal, b.literal) && sameACLs(a.patterns, b.patterns)
}

// sameACLs compares ACL lists as the checks read them: in order, by topic
// and allow (the order of addition, seq, matters only for equal literal
// topics, which literals has resolved).
func sameACLs(a, b []acl) bool {
	return slices.EqualFunc(a, b, func(x, y acl) bool { return x.topic == y.topic && x.allow == y.allow })
}
