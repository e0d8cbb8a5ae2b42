package dynsec

// The group commands (plugins/dynamic-security/groups.c).

func (r *request) createGroup(cmd *jsonValue, corr optString) {
	const op = "createGroup"
	name, ok := r.name(op, cmd, "groupname", corr)
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
	if r.m.group(name) != nil {
		r.reply(op, "Group already exists", corr)
		return
	}
	roles, res := r.roleList(cmd)
	switch res {
	case rolesNotFound:
		r.reply(op, "Role not found", corr)
		return
	case rolesInvalid:
		r.reply(op, "Internal error", corr) // not the client commands' text
		return
	}
	r.m.insertGroup(&group{name: name, textName: textName, textDescription: textDescription, roles: roles})
	r.commit()
	r.reply(op, "", corr)
	r.log.Info("dynsec: createGroup", "groupname", name)
}

// lookupGroup reads the groupname of a command and finds the group,
// answering the command's error if either fails.
func (r *request) lookupGroup(op string, cmd *jsonValue, corr optString) *group {
	name, ok := r.name(op, cmd, "groupname", corr)
	if !ok {
		return nil
	}
	g := r.m.group(name)
	if g == nil {
		r.reply(op, "Group not found", corr)
	}
	return g
}

func (r *request) deleteGroup(cmd *jsonValue, corr optString) {
	const op = "deleteGroup"
	g := r.lookupGroup(op, cmd, corr)
	if g == nil {
		return
	}
	if g == r.m.anonymous {
		// Mosquitto 2.0.11 deletes it and keeps a dangling pointer to it;
		// later versions refuse, with this text.
		r.reply(op, "Deleting the anonymous group is forbidden", corr)
		return
	}
	r.kickGroup(g)
	r.m.removeGroup(g)
	r.commit()
	r.reply(op, "", corr)
	r.log.Info("dynsec: deleteGroup", "groupname", g.name)
}

// clientAndGroup reads the username and groupname of addGroupClient and
// removeGroupClient. Unlike the other commands, these two disconnect the
// username even when the client or the group is not found.
func (r *request) clientAndGroup(op string, cmd *jsonValue, corr optString) (username string, c *client, g *group, ok bool) {
	username, ok = r.name(op, cmd, "username", corr)
	if !ok {
		return "", nil, nil, false
	}
	groupname, ok := r.name(op, cmd, "groupname", corr)
	if !ok {
		return "", nil, nil, false
	}
	c, g = r.m.client(username), r.m.group(groupname)
	switch {
	case c == nil:
		r.reply(op, "Client not found", corr)
	case g == nil:
		r.reply(op, "Group not found", corr)
	}
	return username, c, g, true
}

func (r *request) addGroupClient(cmd *jsonValue, corr optString) {
	const op = "addGroupClient"
	username, c, g, ok := r.clientAndGroup(op, cmd, corr)
	if !ok {
		return
	}
	defer r.kick(username)
	if c == nil || g == nil {
		return
	}
	if !join(c, g, optInt(cmd, "priority", -1)) {
		r.reply(op, "Client is already in this group", corr)
		return
	}
	r.commit()
	r.reply(op, "", corr)
	r.log.Info("dynsec: addGroupClient", "groupname", g.name, "username", username)
}

func (r *request) removeGroupClient(cmd *jsonValue, corr optString) {
	const op = "removeGroupClient"
	username, c, g, ok := r.clientAndGroup(op, cmd, corr)
	if !ok {
		return
	}
	defer r.kick(username)
	if c == nil || g == nil {
		return
	}
	leave(c, g)
	r.commit()
	r.reply(op, "", corr)
	r.log.Info("dynsec: removeGroupClient", "groupname", g.name, "username", username)
}

// groupJSON is a group as getGroup and a verbose listGroups show it: its
// clients without their priorities.
func groupJSON(g *group) *jsonValue {
	j := jsonObj().set("groupname", jsonStr(g.name))
	setOpt(j, "textname", g.textName)
	setOpt(j, "textdescription", g.textDescription)
	clients := jsonArr()
	for _, c := range g.clients {
		clients.add(jsonObj().set("username", jsonStr(c.client.username)))
	}
	return j.set("clients", clients).set("roles", roleRefsJSON(g.roles))
}

func (r *request) getGroup(cmd *jsonValue, corr optString) {
	g := r.lookupGroup("getGroup", cmd, corr)
	if g == nil {
		return
	}
	r.replyData("getGroup", jsonObj().set("group", groupJSON(g)), corr)
}

func (r *request) listGroups(cmd *jsonValue, corr optString) {
	verbose := optBool(cmd, "verbose", false)
	list := jsonArr()
	listRange(len(r.m.groups), optInt(cmd, "count", -1), optInt(cmd, "offset", 0), func(i int) {
		if verbose {
			list.add(groupJSON(r.m.groups[i]))
		} else {
			list.add(jsonStr(r.m.groups[i].name))
		}
	})
	data := jsonObj().set("totalCount", jsonInt(len(r.m.groups))).set("groups", list)
	r.replyData("listGroups", data, corr)
}

// groupAndRole reads the groupname and rolename of addGroupRole and
// removeGroupRole.
func (r *request) groupAndRole(op string, cmd *jsonValue, corr optString) (*group, *role) {
	groupname, ok := r.name(op, cmd, "groupname", corr)
	if !ok {
		return nil, nil
	}
	rolename, ok := r.name(op, cmd, "rolename", corr)
	if !ok {
		return nil, nil
	}
	g := r.m.group(groupname)
	if g == nil {
		r.reply(op, "Group not found", corr)
		return nil, nil
	}
	ro := r.m.role(rolename)
	if ro == nil {
		r.reply(op, "Role not found", corr)
		return nil, nil
	}
	return g, ro
}

func (r *request) addGroupRole(cmd *jsonValue, corr optString) {
	const op = "addGroupRole"
	g, ro := r.groupAndRole(op, cmd, corr)
	if g == nil {
		return
	}
	var added bool
	g.roles, added = addRoleRef(g.roles, ro, optInt(cmd, "priority", -1))
	if !added {
		r.reply(op, "Group is already in this role", corr)
		return
	}
	r.commit()
	r.reply(op, "", corr)
	r.kickGroup(g)
	r.log.Info("dynsec: addGroupRole", "groupname", g.name, "rolename", ro.name)
}

func (r *request) removeGroupRole(cmd *jsonValue, corr optString) {
	const op = "removeGroupRole"
	g, ro := r.groupAndRole(op, cmd, corr)
	if g == nil {
		return
	}
	g.roles = removeRoleRef(g.roles, ro)
	r.commit()
	r.reply(op, "", corr)
	r.kickGroup(g)
	r.log.Info("dynsec: removeGroupRole", "groupname", g.name, "rolename", ro.name)
}

func (r *request) modifyGroup(cmd *jsonValue, corr optString) {
	const op = "modifyGroup"
	g := r.lookupGroup(op, cmd, corr)
	if g == nil {
		return
	}
	// As in the plugin, what is changed before an error stays changed (and
	// is saved with the next change) and the members are disconnected
	// either way. The plugin disconnects the members the group has
	// afterwards; the clients a new member list leaves out are
	// disconnected too, since they lose the group's roles.
	r.changed = true
	defer r.kickGroup(g)
	if s, ok := required(cmd, "textname"); ok {
		g.textName = some(s)
	}
	if s, ok := required(cmd, "textdescription"); ok {
		g.textDescription = some(s)
	}
	roles, res := r.roleList(cmd)
	switch res {
	case rolesGiven:
		g.roles = roles
	case rolesNotFound:
		r.reply(op, "Role not found", corr)
		return
	case rolesInvalid:
		r.reply(op, rolesInvalidText, corr)
		return
	}
	if clients := cmd.get("clients"); clients.isArray() {
		for _, c := range g.clients {
			r.kick(c.client.username)
		}
		for len(g.clients) > 0 {
			leave(g.clients[0].client, g)
		}
		for _, item := range clients.items {
			if name := item.get("username"); name.isString() {
				if c := r.m.client(name.str); c != nil {
					join(c, g, optInt(item, "priority", -1))
				}
			}
		}
	}
	r.commit()
	r.reply(op, "", corr)
	r.log.Info("dynsec: modifyGroup", "groupname", g.name)
}

func (r *request) setAnonymousGroup(cmd *jsonValue, corr optString) {
	const op = "setAnonymousGroup"
	g := r.lookupGroup(op, cmd, corr)
	if g == nil {
		return
	}
	r.m.anonymous = g
	r.commit()
	r.reply(op, "", corr)
	r.kickAnonymous()
	r.log.Info("dynsec: setAnonymousGroup", "groupname", g.name)
}

func (r *request) getAnonymousGroup(_ *jsonValue, corr optString) {
	name := ""
	if r.m.anonymous != nil {
		name = r.m.anonymous.name
	}
	r.replyData("getAnonymousGroup", jsonObj().set("group", jsonObj().set("groupname", jsonStr(name))), corr)
}
