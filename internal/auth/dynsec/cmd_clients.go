package dynsec

import "slices"

// The client commands (plugins/dynamic-security/clients.c). Each checks
// its arguments in the plugin's order, so that the first error reported is
// the plugin's, and disconnects the clients the plugin disconnects.

func (r *request) createClient(cmd *jsonValue, corr optString) {
	const op = "createClient"
	username, ok := r.name(op, cmd, "username", corr)
	if !ok {
		return
	}
	pw, ok := optional(cmd, "password")
	if !ok {
		r.reply(op, "Invalid/missing password", corr)
		return
	}
	clientID, ok := optional(cmd, "clientid")
	if !ok {
		r.reply(op, "Invalid/missing client id", corr)
		return
	}
	if clientID.ok && !validUTF8(clientID.s) {
		r.reply(op, "Client ID not valid UTF-8", corr)
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
	if r.m.client(username) != nil {
		r.reply(op, "Client already exists", corr)
		return
	}
	c := &client{username: username, textName: textName, textDescription: textDescription}
	if pw.ok {
		p, err := newPassword(pw.s)
		if err != nil {
			r.reply(op, "Internal error", corr)
			return
		}
		c.password = p
	}
	if clientID.s != "" {
		c.clientID = clientID
	}
	roles, res := r.roleList(cmd)
	switch res {
	case rolesNotFound:
		r.reply(op, "Role not found", corr)
		return
	case rolesInvalid:
		r.reply(op, rolesInvalidText, corr)
		return
	}
	c.roles = roles
	r.m.insertClient(c)
	if groups := cmd.get("groups"); groups.isArray() {
		for _, item := range groups.items {
			name := item.get("groupname")
			if !name.isString() {
				continue
			}
			g := r.m.group(name.str)
			var errText string
			switch {
			case g == nil:
				errText = "Group not found"
			case !join(c, g, optInt(item, "priority", -1)):
				errText = "Internal error" // the group is listed twice
			}
			if errText != "" {
				r.m.removeClient(c)
				r.reply(op, errText, corr)
				return
			}
		}
	}
	r.commit()
	r.reply(op, "", corr)
	r.log.Info("dynsec: createClient", "username", username, "password", pw.ok)
}

func (r *request) deleteClient(cmd *jsonValue, corr optString) {
	const op = "deleteClient"
	username, ok := required(cmd, "username") // the plugin does not check UTF-8 here
	if !ok {
		r.reply(op, "Invalid/missing username", corr)
		return
	}
	c := r.m.client(username)
	if c == nil {
		r.reply(op, "Client not found", corr)
		return
	}
	r.m.removeClient(c)
	r.commit()
	r.reply(op, "", corr)
	r.kick(username)
	r.log.Info("dynsec: deleteClient", "username", username)
}

// lookupClient reads the username of a command and finds the client,
// answering the command's error if either fails.
func (r *request) lookupClient(op string, cmd *jsonValue, corr optString) *client {
	username, ok := r.name(op, cmd, "username", corr)
	if !ok {
		return nil
	}
	c := r.m.client(username)
	if c == nil {
		r.reply(op, "Client not found", corr)
	}
	return c
}

func (r *request) disableClient(cmd *jsonValue, corr optString) {
	c := r.lookupClient("disableClient", cmd, corr)
	if c == nil {
		return
	}
	c.disabled = true
	r.kick(c.username)
	r.commit()
	r.reply("disableClient", "", corr)
	r.log.Info("dynsec: disableClient", "username", c.username)
}

func (r *request) enableClient(cmd *jsonValue, corr optString) {
	c := r.lookupClient("enableClient", cmd, corr)
	if c == nil {
		return
	}
	c.disabled = false
	r.commit()
	r.reply("enableClient", "", corr)
	r.log.Info("dynsec: enableClient", "username", c.username)
}

func (r *request) setClientID(cmd *jsonValue, corr optString) {
	const op = "setClientId"
	username, ok := r.name(op, cmd, "username", corr)
	if !ok {
		return
	}
	clientID, ok := optional(cmd, "clientid")
	if !ok {
		r.reply(op, "Invalid/missing client ID", corr)
		return
	}
	if clientID.ok && !validUTF8(clientID.s) {
		r.reply(op, "Client ID not valid UTF-8", corr)
		return
	}
	c := r.m.client(username)
	if c == nil {
		r.reply(op, "Client not found", corr)
		return
	}
	c.clientID = optString{}
	if clientID.s != "" {
		c.clientID = clientID
	}
	r.commit()
	r.reply(op, "", corr)
	r.kick(username)
	r.log.Info("dynsec: setClientId", "username", username, "clientid", c.clientID.s)
}

func (r *request) setClientPassword(cmd *jsonValue, corr optString) {
	const op = "setClientPassword"
	username, ok := r.name(op, cmd, "username", corr)
	if !ok {
		return
	}
	pw, ok := required(cmd, "password")
	if !ok {
		r.reply(op, "Invalid/missing password", corr)
		return
	}
	if pw == "" {
		r.reply(op, "Empty password is not allowed", corr)
		return
	}
	c := r.m.client(username)
	if c == nil {
		r.reply(op, "Client not found", corr)
		return
	}
	r.changed = true
	if !r.setPassword(c, pw) {
		r.reply(op, "Internal error", corr)
		return
	}
	r.commit()
	r.reply(op, "", corr)
	r.kick(username)
	r.log.Info("dynsec: setClientPassword", "username", username)
}

// setPassword gives c a new password hash. If hashing fails the client is
// left without a password, as in the plugin: it can no longer log in.
func (r *request) setPassword(c *client, pw string) bool {
	p, err := newPassword(pw)
	c.password = p
	return err == nil
}

func (r *request) modifyClient(cmd *jsonValue, corr optString) {
	const op = "modifyClient"
	c := r.lookupClient(op, cmd, corr)
	if c == nil {
		return
	}
	// What is changed before an error stays changed, but is not saved
	// until the next change is, as in the plugin; the client is
	// disconnected either way.
	r.changed = true
	defer r.kick(c.username)
	if id, ok := required(cmd, "clientid"); ok {
		c.clientID = optString{}
		if id != "" {
			c.clientID = some(id)
		}
	}
	if pw, ok := required(cmd, "password"); ok && pw != "" {
		if !r.setPassword(c, pw) {
			r.reply(op, "Internal error", corr)
			return
		}
	}
	if s, ok := required(cmd, "textname"); ok {
		c.textName = some(s)
	}
	if s, ok := required(cmd, "textdescription"); ok {
		c.textDescription = some(s)
	}
	roles, res := r.roleList(cmd)
	switch res {
	case rolesGiven:
		c.roles = roles
	case rolesNotFound:
		r.reply(op, "Role not found", corr)
		return
	case rolesInvalid:
		r.reply(op, rolesInvalidText, corr)
		return
	}
	if groups := cmd.get("groups"); groups.isArray() {
		for _, g := range slices.Clone(c.groups) {
			leave(c, g.group)
		}
		for _, item := range groups.items {
			if name := item.get("groupname"); name.isString() {
				if g := r.m.group(name.str); g != nil {
					join(c, g, optInt(item, "priority", -1))
				}
			}
		}
	}
	r.commit()
	r.reply(op, "", corr)
	r.log.Info("dynsec: modifyClient", "username", c.username)
}

// clientJSON is a client as getClient and a verbose listClients show it.
func clientJSON(c *client) *jsonValue {
	j := jsonObj().set("username", jsonStr(c.username))
	setOpt(j, "clientid", c.clientID)
	setOpt(j, "textname", c.textName)
	setOpt(j, "textdescription", c.textDescription)
	if c.disabled {
		j.set("disabled", jsonBool(true))
	}
	j.set("roles", roleRefsJSON(c.roles))
	groups := jsonArr()
	for _, g := range c.groups {
		gj := jsonObj().set("groupname", jsonStr(g.group.name))
		if g.priority != -1 {
			gj.set("priority", jsonInt(g.priority))
		}
		groups.add(gj)
	}
	return j.set("groups", groups)
}

func (r *request) getClient(cmd *jsonValue, corr optString) {
	c := r.lookupClient("getClient", cmd, corr)
	if c == nil {
		return
	}
	r.replyData("getClient", jsonObj().set("client", clientJSON(c)), corr)
}

func (r *request) listClients(cmd *jsonValue, corr optString) {
	verbose := optBool(cmd, "verbose", false)
	list := jsonArr()
	listRange(len(r.m.clients), optInt(cmd, "count", -1), optInt(cmd, "offset", 0), func(i int) {
		if verbose {
			list.add(clientJSON(r.m.clients[i]))
		} else {
			list.add(jsonStr(r.m.clients[i].username))
		}
	})
	data := jsonObj().set("totalCount", jsonInt(len(r.m.clients))).set("clients", list)
	r.replyData("listClients", data, corr)
}

// clientAndRole reads the username and rolename of addClientRole and
// removeClientRole, in the plugin's order.
func (r *request) clientAndRole(op string, cmd *jsonValue, corr optString) (*client, *role) {
	username, ok := r.name(op, cmd, "username", corr)
	if !ok {
		return nil, nil
	}
	rolename, ok := r.name(op, cmd, "rolename", corr)
	if !ok {
		return nil, nil
	}
	c := r.m.client(username)
	if c == nil {
		r.reply(op, "Client not found", corr)
		return nil, nil
	}
	ro := r.m.role(rolename)
	if ro == nil {
		r.reply(op, "Role not found", corr)
		return nil, nil
	}
	return c, ro
}

func (r *request) addClientRole(cmd *jsonValue, corr optString) {
	const op = "addClientRole"
	c, ro := r.clientAndRole(op, cmd, corr)
	if c == nil {
		return
	}
	var added bool
	c.roles, added = addRoleRef(c.roles, ro, optInt(cmd, "priority", -1))
	if !added {
		r.reply(op, "Internal error", corr) // the plugin's answer when the client has the role
		return
	}
	r.commit()
	r.reply(op, "", corr)
	r.kick(c.username)
	r.log.Info("dynsec: addClientRole", "username", c.username, "rolename", ro.name)
}

func (r *request) removeClientRole(cmd *jsonValue, corr optString) {
	const op = "removeClientRole"
	c, ro := r.clientAndRole(op, cmd, corr)
	if c == nil {
		return
	}
	c.roles = removeRoleRef(c.roles, ro)
	r.commit()
	r.reply(op, "", corr)
	r.kick(c.username)
	r.log.Info("dynsec: removeClientRole", "username", c.username, "rolename", ro.name)
}
