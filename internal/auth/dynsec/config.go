package dynsec

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
)

// The configuration file is the plugin's JSON document:
//
//	{
//		"defaultACLAccess": {"publishClientSend": false, ...},
//		"clients": [{"username", "clientid", "textname", "textdescription",
//		             "disabled", "roles": [{"rolename", "priority"}],
//		             "password", "salt", "iterations"}],
//		"groups": [{"groupname", "textname", "textdescription",
//		            "roles": [...], "clients": [{"username", "priority"}]}],
//		"anonymousGroup": "name",
//		"roles": [{"rolename", "textname", "textdescription",
//		           "acls": [{"acltype", "topic", "priority", "allow"}]}]
//	}
//
// Member names are matched ignoring case, as the plugin does. Mosquitto
// skips what it cannot use (an entry without a name, a field of the wrong
// type, a broken password) and starts anyway, and then overwrites the file
// at the first change; midge refuses such a file instead and names the
// problem. References to roles, groups or clients that do not exist are
// dropped, as Mosquitto drops them, with a warning. A missing or empty
// file is an empty configuration, as in Mosquitto: nobody is known, so the
// plugin decides nothing and every check falls through to the next one.

// loadModel reads the file at path.
func loadModel(path string, log *slog.Logger) (*model, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		log.Warn("dynsec: configuration file does not exist: starting with no clients, groups or roles", "file", path)
		return &model{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dynsec: reading %s: %w", path, err)
	}
	if len(data) == 0 {
		return &model{}, nil
	}
	m, err := decodeModel(data, log)
	if err != nil {
		return nil, fmt.Errorf("dynsec: %s: %w", path, err)
	}
	return m, nil
}

// decodeModel builds the model from the file's contents.
func decodeModel(data []byte, log *slog.Logger) (*model, error) {
	tree, ok := parseJSON(data)
	if !ok {
		return nil, errors.New("not valid JSON")
	}
	if !tree.isObject() {
		return nil, errors.New("not a JSON object")
	}
	d := decoder{m: &model{}, log: log}
	d.defaults(tree.get("defaultACLAccess"))
	d.roles(tree.get("roles"))
	d.clients(tree.get("clients"))
	d.groups(tree.get("groups"))
	if j := tree.get("anonymousGroup"); j != nil {
		switch {
		case !j.isString():
			d.fail("anonymousGroup: not a string")
		case d.m.group(j.str) == nil:
			d.warn("anonymousGroup names a group that does not exist: ignored", "group", j.str)
		default:
			d.m.anonymous = d.m.group(j.str)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return d.m, nil
}

// decoder keeps the first error; later steps still run but change nothing
// that matters.
type decoder struct {
	m   *model
	log *slog.Logger
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) warn(msg string, args ...any) {
	d.log.Warn("dynsec: "+msg, args...)
}

// array returns the items of an optional array member.
func (d *decoder) array(j *jsonValue, what string) []*jsonValue {
	if j == nil {
		return nil
	}
	if !j.isArray() {
		d.fail("%s: not an array", what)
		return nil
	}
	return j.items
}

// str reads an optional string member.
func (d *decoder) str(obj *jsonValue, name, what string) optString {
	j := obj.get(name)
	if j == nil {
		return optString{}
	}
	if !j.isString() {
		d.fail("%s: %s is not a string", what, name)
		return optString{}
	}
	return some(j.str)
}

// integer reads an optional number member, truncated to an int as the
// plugin reads it.
func (d *decoder) integer(obj *jsonValue, name, what string, def int) int {
	j := obj.get(name)
	if j == nil {
		return def
	}
	if !j.isNumber() {
		d.fail("%s: %s is not a number", what, name)
		return def
	}
	return j.intValue()
}

func (d *decoder) boolean(obj *jsonValue, name, what string) bool {
	j := obj.get(name)
	if j == nil {
		return false
	}
	if !j.isBool() {
		d.fail("%s: %s is not true or false", what, name)
		return false
	}
	return j.kind == jsonTrue
}

// name reads the required name of an entry.
func (d *decoder) name(obj *jsonValue, field, list string, i int) (string, bool) {
	if !obj.isObject() {
		d.fail("%s[%d]: not an object", list, i)
		return "", false
	}
	j := obj.get(field)
	if !j.isString() {
		d.fail("%s[%d]: missing %s", list, i, field)
		return "", false
	}
	return j.str, true
}

func (d *decoder) defaults(j *jsonValue) {
	if j == nil {
		return
	}
	if !j.isObject() {
		d.fail("defaultACLAccess: not an object")
		return
	}
	for k, name := range defaultNames {
		d.m.defaults[k] = d.boolean(j, name, "defaultACLAccess")
	}
}

func (d *decoder) roles(j *jsonValue) {
	for i, jr := range d.array(j, "roles") {
		name, ok := d.name(jr, "rolename", "roles", i)
		if !ok {
			continue
		}
		what := fmt.Sprintf("role %q", name)
		if d.m.role(name) != nil {
			d.fail("%s: listed twice", what)
			continue
		}
		r := &role{name: name, textName: d.str(jr, "textname", what), textDescription: d.str(jr, "textdescription", what)}
		for k, ja := range d.array(jr.get("acls"), what+": acls") {
			t, a, ok := d.acl(ja, fmt.Sprintf("%s: acls[%d]", what, k))
			if ok {
				d.m.addACL(r, t, a)
			}
		}
		d.m.insertRole(r)
	}
}

func (d *decoder) acl(j *jsonValue, what string) (aclType, acl, bool) {
	if !j.isObject() {
		d.fail("%s: not an object", what)
		return 0, acl{}, false
	}
	jt := j.get("acltype")
	if !jt.isString() {
		d.fail("%s: missing acltype", what)
		return 0, acl{}, false
	}
	t, ok := parseACLType(jt.str)
	if !ok {
		d.fail("%s: unknown acltype %q", what, jt.str)
		return 0, acl{}, false
	}
	topic := j.get("topic")
	if !topic.isString() {
		d.fail("%s: missing topic", what)
		return 0, acl{}, false
	}
	return t, acl{topic: topic.str, priority: d.integer(j, "priority", what, 0), allow: d.boolean(j, "allow", what)}, true
}

// roleRefs reads the "roles" of a client or a group.
func (d *decoder) roleRefs(obj *jsonValue, what string) []roleRef {
	var list []roleRef
	for i, j := range d.array(obj.get("roles"), what+": roles") {
		name, ok := d.name(j, "rolename", what+": roles", i)
		if !ok {
			continue
		}
		r := d.m.role(name)
		if r == nil {
			d.warn(what+" has a role that does not exist: ignored", "role", name)
			continue
		}
		list, _ = addRoleRef(list, r, d.integer(j, "priority", what, -1))
	}
	return list
}

func (d *decoder) clients(j *jsonValue) {
	for i, jc := range d.array(j, "clients") {
		name, ok := d.name(jc, "username", "clients", i)
		if !ok {
			continue
		}
		what := fmt.Sprintf("client %q", name)
		if d.m.client(name) != nil {
			d.fail("%s: listed twice", what)
			continue
		}
		c := &client{
			username:        name,
			clientID:        d.str(jc, "clientid", what),
			textName:        d.str(jc, "textname", what),
			textDescription: d.str(jc, "textdescription", what),
			disabled:        d.boolean(jc, "disabled", what),
		}
		hash, salt, iter := jc.get("password"), jc.get("salt"), jc.get("iterations")
		if hash != nil || salt != nil || iter != nil {
			if !hash.isString() || !salt.isString() || !iter.isNumber() {
				d.fail("%s: password, salt and iterations must be given together, as strings and a number", what)
				continue
			}
			p, err := decodePassword(hash.str, salt.str, iter.intValue())
			if err != nil {
				d.fail("%s: %w", what, err)
				continue
			}
			c.password = p
		}
		c.roles = d.roleRefs(jc, what)
		d.m.insertClient(c)
	}
}

func (d *decoder) groups(j *jsonValue) {
	for i, jg := range d.array(j, "groups") {
		name, ok := d.name(jg, "groupname", "groups", i)
		if !ok {
			continue
		}
		what := fmt.Sprintf("group %q", name)
		if d.m.group(name) != nil {
			d.fail("%s: listed twice", what)
			continue
		}
		g := &group{name: name, textName: d.str(jg, "textname", what), textDescription: d.str(jg, "textdescription", what)}
		g.roles = d.roleRefs(jg, what)
		for k, jc := range d.array(jg.get("clients"), what+": clients") {
			user, ok := d.name(jc, "username", what+": clients", k)
			if !ok {
				continue
			}
			c := d.m.client(user)
			if c == nil {
				d.warn(what+" has a client that does not exist: ignored", "username", user)
				continue
			}
			join(c, g, d.integer(jc, "priority", what, -1))
		}
		d.m.insertGroup(g)
	}
}

// encode renders the model as the plugin saves it (cJSON_Print): the same
// members in the same order, so that either broker can read what the
// other wrote and a diff shows only what changed.
func (m *model) encode() []byte {
	tree := jsonObj()
	defaults := jsonObj()
	for k, name := range defaultNames {
		defaults.set(name, jsonBool(m.defaults[k]))
	}
	tree.set("defaultACLAccess", defaults)

	clients := jsonArr()
	for _, c := range m.clients {
		j := jsonObj().set("username", jsonStr(c.username))
		setOpt(j, "clientid", c.clientID)
		setOpt(j, "textname", c.textName)
		setOpt(j, "textdescription", c.textDescription)
		if c.disabled {
			j.set("disabled", jsonBool(true))
		}
		j.set("roles", roleRefsJSON(c.roles))
		if p := c.password; p != nil {
			j.set("password", jsonStr(p.encodedHash()))
			j.set("salt", jsonStr(p.encodedSalt()))
			j.set("iterations", jsonInt(p.iterations))
		}
		clients.add(j)
	}
	tree.set("clients", clients)

	groups := jsonArr()
	for _, g := range m.groups {
		j := jsonObj().set("groupname", jsonStr(g.name))
		setOpt(j, "textname", g.textName)
		setOpt(j, "textdescription", g.textDescription)
		j.set("roles", roleRefsJSON(g.roles))
		members := jsonArr()
		for _, c := range g.clients {
			mj := jsonObj().set("username", jsonStr(c.client.username))
			if c.priority != -1 {
				mj.set("priority", jsonInt(c.priority))
			}
			members.add(mj)
		}
		j.set("clients", members)
		groups.add(j)
	}
	tree.set("groups", groups)
	if m.anonymous != nil {
		tree.set("anonymousGroup", jsonStr(m.anonymous.name))
	}

	roles := jsonArr()
	for _, r := range m.roles {
		roles.add(roleJSON(r))
	}
	tree.set("roles", roles)
	return tree.marshal(true)
}

func setOpt(obj *jsonValue, key string, v optString) {
	if v.ok {
		obj.set(key, jsonStr(v.s))
	}
}

// roleRefsJSON lists roles as the plugin does, leaving out the default
// priority -1.
func roleRefsJSON(list []roleRef) *jsonValue {
	a := jsonArr()
	for _, r := range list {
		j := jsonObj().set("rolename", jsonStr(r.role.name))
		if r.priority != -1 {
			j.set("priority", jsonInt(r.priority))
		}
		a.add(j)
	}
	return a
}

// roleJSON is a role with its ACLs, for the file, getRole and listRoles.
func roleJSON(r *role) *jsonValue {
	j := jsonObj().set("rolename", jsonStr(r.name))
	setOpt(j, "textname", r.textName)
	setOpt(j, "textdescription", r.textDescription)
	acls := jsonArr()
	for t, list := range r.acls {
		for _, a := range list {
			acls.add(jsonObj().
				set("acltype", jsonStr(aclTypeNames[t])).
				set("topic", jsonStr(a.topic)).
				set("priority", jsonInt(a.priority)).
				set("allow", jsonBool(a.allow)))
		}
	}
	return j.set("acls", acls)
}

// writeFile replaces the file at path with data atomically: a temporary
// file in the same directory, written and synced, renamed over the old
// one, and the directory synced so that the rename survives a crash. The
// file is created readable and writable by its owner only, 0600 (Mosquitto
// 2.0.11 leaves it to the umask, later versions make it 0600 too): it
// holds password hashes.
func writeFile(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.new")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Windows cannot open a directory
// for syncing, and its renames are journaled by NTFS.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
