package dynsec

import (
	"log/slog"
	"slices"

	"github.com/midge-mqtt/midge/internal/ascii"
)

// request is one control request being served: the model it edits, the
// responses so far and the clients to disconnect.
type request struct {
	m         *model
	log       *slog.Logger
	responses *jsonValue
	kicks     []Kick
	changed   bool // the model may have changed: compile it
	save      bool // and save it: the plugin would have
}

// commit marks the model changed and to be saved, where the plugin calls
// dynsec__config_save.
func (r *request) commit() { r.changed, r.save = true, true }

type handler func(r *request, cmd *jsonValue, corr optString)

// commands maps the command names, in lower case since the plugin
// matches them ignoring case, to their handlers; the responses carry the
// canonical name.
var commands = lowerKeys(map[string]handler{
	"setDefaultACLAccess": (*request).setDefaultACLAccess,
	"getDefaultACLAccess": (*request).getDefaultACLAccess,

	"createClient":      (*request).createClient,
	"deleteClient":      (*request).deleteClient,
	"getClient":         (*request).getClient,
	"listClients":       (*request).listClients,
	"modifyClient":      (*request).modifyClient,
	"setClientPassword": (*request).setClientPassword,
	"setClientId":       (*request).setClientID,
	"addClientRole":     (*request).addClientRole,
	"removeClientRole":  (*request).removeClientRole,
	"enableClient":      (*request).enableClient,
	"disableClient":     (*request).disableClient,

	"addGroupClient":    (*request).addGroupClient,
	"createGroup":       (*request).createGroup,
	"deleteGroup":       (*request).deleteGroup,
	"getGroup":          (*request).getGroup,
	"listGroups":        (*request).listGroups,
	"modifyGroup":       (*request).modifyGroup,
	"removeGroupClient": (*request).removeGroupClient,
	"addGroupRole":      (*request).addGroupRole,
	"removeGroupRole":   (*request).removeGroupRole,
	"setAnonymousGroup": (*request).setAnonymousGroup,
	"getAnonymousGroup": (*request).getAnonymousGroup,

	"createRole":    (*request).createRole,
	"getRole":       (*request).getRole,
	"listRoles":     (*request).listRoles,
	"modifyRole":    (*request).modifyRole,
	"deleteRole":    (*request).deleteRole,
	"addRoleACL":    (*request).addRoleACL,
	"removeRoleACL": (*request).removeRoleACL,
})

func lowerKeys(m map[string]handler) map[string]handler {
	out := make(map[string]handler, len(m))
	for name, h := range m {
		out[lowerASCII(name)] = h
	}
	return out
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// run serves a request payload (dynsec_control_callback and
// dynsec__handle_control).
func (r *request) run(payload []byte) {
	tree, ok := parseJSON(payload)
	if !ok {
		r.reply("Unknown command", "Payload not valid JSON", optString{})
		return
	}
	list := tree.get("commands")
	if !list.isArray() {
		r.reply("Unknown command", "Invalid/missing commands", optString{})
		return
	}
	// The plugin resets the correlation data only when it reads a
	// command's name, so a command without one is answered with the
	// correlation data of the command before it; kept for fidelity.
	var corr optString
	for _, cmd := range list.items {
		if !cmd.isObject() {
			r.reply("Unknown command", "Command not an object", corr)
			continue
		}
		name := cmd.get("command")
		if !name.isString() {
			r.reply("Unknown command", "Missing command", corr)
			continue
		}
		corr = optString{}
		if c := cmd.get("correlationData"); c != nil {
			if !c.isString() {
				// The plugin stops here: later commands are not run.
				r.reply(name.str, "Invalid correlationData data type.", optString{})
				return
			}
			corr = some(c.str)
		}
		h := commands[lowerASCII(name.str)]
		if h == nil {
			r.reply(name.str, "Unknown command", corr)
			continue
		}
		h(r, cmd, corr)
	}
}

// reply adds a response without data: success, or the error text.
func (r *request) reply(command, errText string, corr optString) {
	j := jsonObj().set("command", jsonStr(command))
	if errText != "" {
		j.set("error", jsonStr(errText))
	}
	setOpt(j, "correlationData", corr)
	r.responses.add(j)
}

// replyData adds a successful response carrying data.
func (r *request) replyData(command string, data *jsonValue, corr optString) {
	j := jsonObj().set("command", jsonStr(command)).set("data", data)
	setOpt(j, "correlationData", corr)
	r.responses.add(j)
}

func (r *request) kick(username string) {
	k := Kick{Username: username}
	if !slices.Contains(r.kicks, k) {
		r.kicks = append(r.kicks, k)
	}
}

func (r *request) kickAnonymous() {
	k := Kick{Anonymous: true}
	if !slices.Contains(r.kicks, k) {
		r.kicks = append(r.kicks, k)
	}
}

// kickGroup disconnects the members of g, and the anonymous clients if g
// is the anonymous group (group__kick_all).
func (r *request) kickGroup(g *group) {
	if g == r.m.anonymous {
		r.kickAnonymous()
	}
	for _, c := range g.clients {
		r.kick(c.client.username)
	}
}

// kickRole disconnects everyone who has r, directly or through a group
// (role__kick_all).
func (r *request) kickRole(ro *role) {
	users, anonymous := r.m.usersOfRole(ro)
	if anonymous {
		r.kickAnonymous()
	}
	for _, c := range users {
		r.kick(c.username)
	}
}

// Reading members as json_get_string, json_get_int and json_get_bool do.

// required returns a member that must be a string.
func required(cmd *jsonValue, name string) (string, bool) {
	j := cmd.get(name)
	if !j.isString() {
		return "", false
	}
	return j.str, true
}

// optional returns a member that may be missing; ok is false when it is
// there but not a string.
func optional(cmd *jsonValue, name string) (v optString, ok bool) {
	j := cmd.get(name)
	if j == nil {
		return optString{}, true
	}
	if !j.isString() {
		return optString{}, false
	}
	return some(j.str), true
}

// optInt returns a number member, or def when it is missing or not a
// number.
func optInt(cmd *jsonValue, name string, def int) int {
	if j := cmd.get(name); j.isNumber() {
		return j.intValue()
	}
	return def
}

// optBool returns a boolean member, or def when it is missing or not a
// boolean.
func optBool(cmd *jsonValue, name string, def bool) bool {
	if j := cmd.get(name); j.isBool() {
		return j.kind == jsonTrue
	}
	return def
}

// name reads the required, valid UTF-8 name member of a command,
// answering the command's error when it is not.
func (r *request) name(command string, cmd *jsonValue, member string, corr optString) (string, bool) {
	v, ok := required(cmd, member)
	if !ok {
		r.reply(command, "Invalid/missing "+member, corr)
		return "", false
	}
	if !validUTF8(v) {
		r.reply(command, utf8Errors[member], corr)
		return "", false
	}
	return v, true
}

var utf8Errors = map[string]string{
	"username":  "Username not valid UTF-8",
	"groupname": "Group name not valid UTF-8",
	"rolename":  "Role name not valid UTF-8",
}

// roleList reads a command's "roles" (dynsec_rolelist__load_from_json).
type roleListResult int

const (
	rolesGiven roleListResult = iota
	rolesAbsent
	rolesNotFound // "Role not found"
	rolesInvalid  // not an array, or an entry without a rolename string
)

func (r *request) roleList(cmd *jsonValue) ([]roleRef, roleListResult) {
	j := cmd.get("roles")
	if j == nil {
		return nil, rolesAbsent
	}
	if !j.isArray() {
		return nil, rolesInvalid
	}
	var list []roleRef
	for _, item := range j.items {
		name := item.get("rolename")
		if !name.isString() {
			return nil, rolesInvalid
		}
		ro := r.m.role(name.str)
		if ro == nil {
			return nil, rolesNotFound
		}
		list, _ = addRoleRef(list, ro, optInt(item, "priority", -1))
	}
	return list, rolesGiven
}

const rolesInvalidText = "'roles' not an array or missing/invalid rolename"

// listRange walks n items as the list commands do: from offset, and at
// most count of them when count is not negative, except that a count of
// 0 still gives one item.
func listRange(n, count, offset int, each func(i int)) {
	for i := 0; i < n; i++ {
		if i < offset {
			continue
		}
		each(i)
		if count >= 0 {
			count--
			if count <= 0 {
				return
			}
		}
	}
}

// The two commands about the plugin itself.

func (r *request) setDefaultACLAccess(cmd *jsonValue, corr optString) {
	acls := cmd.get("acls")
	if !acls.isArray() {
		r.reply("setDefaultACLAccess", "Missing/invalid actions array", corr)
		return
	}
	for _, item := range acls.items {
		t, allow := item.get("acltype"), item.get("allow")
		if !t.isString() || !allow.isBool() {
			continue
		}
		for k, name := range defaultNames {
			if ascii.EqualFold(t.str, name) {
				r.m.defaults[k] = allow.kind == jsonTrue
			}
		}
		r.log.Info("dynsec: setDefaultACLAccess", "acltype", t.str, "allow", allow.kind == jsonTrue)
	}
	r.commit()
	r.reply("setDefaultACLAccess", "", corr)
}

func (r *request) getDefaultACLAccess(_ *jsonValue, corr optString) {
	acls := jsonArr()
	for k, name := range defaultNames {
		acls.add(jsonObj().set("acltype", jsonStr(name)).set("allow", jsonBool(r.m.defaults[k])))
	}
	r.replyData("getDefaultACLAccess", jsonObj().set("acls", acls), corr)
}
