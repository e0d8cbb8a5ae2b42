package dynsec

import "github.com/midge-mqtt/midge/internal/ascii"

// The role commands (plugins/dynamic-security/roles.c).

// loadACLs reads the "acls" of createRole and modifyRole as the plugin
// does: entries of an unknown type or without a topic string are skipped,
// the topics are not checked, the priority defaults to 0 and allow to
// false.
func (r *request) loadACLs(ro *role, list *jsonValue) {
	for t := range numACLTypes {
		for _, item := range list.items {
			at := item.get("acltype")
			if !at.isString() || !ascii.EqualFold(at.str, aclTypeNames[t]) {
				continue
			}
			topic := item.get("topic")
			if !topic.isString() {
				continue
			}
			r.m.addACL(ro, t, acl{
				topic:    topic.str,
				priority: optInt(item, "priority", 0),
				allow:    optBool(item, "allow", false),
			})
		}
	}
}

func (r *request) createRole(cmd *jsonValue, corr optString) {
	const op = "createRole"
	name, ok := r.name(op, cmd, "rolename", corr)
	if !ok {
		return
	}
	textName, ok := optional(cmd, "textname")
	if !ok {
		r.reply(op, "Invalid/missing textname", corr)
		return
	}
	textDescription, ok := optional(cmd, "textdescription")
	if !ok {
		r.reply(op, "Invalid/missing textdescription", corr)
		return
	}
	if r.m.role(name) != nil {
		r.reply(op, "Role already exists", corr)
		return
	}
	ro := &role{name: name, textName: textName, textDescription: textDescription}
	if acls := cmd.get("acls"); acls.isArray() {
		r.loadACLs(ro, acls)
	}
	r.m.insertRole(ro)
	r.commit()
	r.reply(op, "", corr)
	r.log.Info("dynsec: createRole", "rolename", name)
}

// lookupRole reads the rolename of a command and finds the role,
// answering notFound if there is no such role.
func (r *request) lookupRole(op string, cmd *jsonValue, corr optString, notFound string) *role {
	name, ok := r.name(op, cmd, "rolename", corr)
	if !ok {
		return nil
	}
	ro := r.m.role(name)
	if ro == nil {
		r.reply(op, notFound, corr)
	}
	return ro
}

func (r *request) deleteRole(cmd *jsonValue, corr optString) {
	ro := r.lookupRole("deleteRole", cmd, corr, "Role not found")
	if ro == nil {
		return
	}
	r.kickRole(ro)
	r.m.removeRole(ro)
	r.commit()
	r.reply("deleteRole", "", corr)
	r.log.Info("dynsec: deleteRole", "rolename", ro.name)
}

func (r *request) getRole(cmd *jsonValue, corr optString) {
	ro := r.lookupRole("getRole", cmd, corr, "Role not found")
	if ro == nil {
		return
	}
	r.replyData("getRole", jsonObj().set("role", roleJSON(ro)), corr)
}

func (r *request) listRoles(cmd *jsonValue, corr optString) {
	verbose := optBool(cmd, "verbose", false)
	list := jsonArr()
	listRange(len(r.m.roles), optInt(cmd, "count", -1), optInt(cmd, "offset", 0), func(i int) {
		if verbose {
			list.add(roleJSON(r.m.roles[i]))
		} else {
			list.add(jsonStr(r.m.roles[i].name))
		}
	})
	data := jsonObj().set("totalCount", jsonInt(len(r.m.roles))).set("roles", list)
	r.replyData("listRoles", data, corr)
}

func (r *request) modifyRole(cmd *jsonValue, corr optString) {
	const op = "modifyRole"
	ro := r.lookupRole(op, cmd, corr, "Role does not exist")
	if ro == nil {
		return
	}
	if s, ok := required(cmd, "textname"); ok {
		ro.textName = some(s)
	}
	if s, ok := required(cmd, "textdescription"); ok {
		ro.textDescription = some(s)
	}
	if acls := cmd.get("acls"); acls.isArray() {
		ro.acls = [numACLTypes][]acl{}
		r.loadACLs(ro, acls)
		// Mosquitto 2.0.11 disconnects nobody here; later versions
		// disconnect the role's users when its ACLs are replaced, since
		// their subscriptions were granted by the old ones.
		r.kickRole(ro)
	}
	r.commit()
	r.reply(op, "", corr)
	r.log.Info("dynsec: modifyRole", "rolename", ro.name)
}

// roleACL reads the rolename, acltype and topic of addRoleACL and
// removeRoleACL, in the plugin's order.
func (r *request) roleACL(op string, cmd *jsonValue, corr optString) (*role, aclType, string, bool) {
	ro := r.lookupRole(op, cmd, corr, "Role not found")
	if ro == nil {
		return nil, 0, "", false
	}
	at := cmd.get("acltype")
	if !at.isString() {
		r.reply(op, "Invalid/missing acltype", corr)
		return nil, 0, "", false
	}
	t, ok := parseACLType(at.str)
	if !ok {
		r.reply(op, "Unknown acltype", corr)
		return nil, 0, "", false
	}
	topic, ok := required(cmd, "topic")
	switch {
	case !ok:
		r.reply(op, "Invalid/missing topic", corr)
	case !validUTF8(topic):
		r.reply(op, "Topic not valid UTF-8", corr)
	case !validFilter(topic):
		r.reply(op, "Invalid ACL topic", corr)
	default:
		return ro, t, topic, true
	}
	return nil, 0, "", false
}

func (r *request) addRoleACL(cmd *jsonValue, corr optString) {
	const op = "addRoleACL"
	ro, t, topic, ok := r.roleACL(op, cmd, corr)
	if !ok {
		return
	}
	if findACL(ro.acls[t], topic) >= 0 {
		r.reply(op, "ACL with this topic already exists", corr)
		return
	}
	a := acl{topic: topic, priority: optInt(cmd, "priority", 0), allow: optBool(cmd, "allow", false)}
	r.m.addACL(ro, t, a)
	r.commit()
	r.reply(op, "", corr)
	r.kickRole(ro)
	r.log.Info("dynsec: addRoleACL", "rolename", ro.name, "acltype", aclTypeNames[t], "topic", topic, "priority", a.priority, "allow", a.allow)
}

func (r *request) removeRoleACL(cmd *jsonValue, corr optString) {
	const op = "removeRoleACL"
	ro, t, topic, ok := r.roleACL(op, cmd, corr)
	if !ok {
		return
	}
	i := findACL(ro.acls[t], topic)
	if i < 0 {
		r.reply(op, "ACL not found", corr)
		return
	}
	ro.acls[t] = append(ro.acls[t][:i:i], ro.acls[t][i+1:]...)
	r.commit()
	r.reply(op, "", corr)
	r.kickRole(ro)
	r.log.Info("dynsec: removeRoleACL", "rolename", ro.name, "acltype", aclTypeNames[t], "topic", topic)
}
