package dynsec

import (
	"fmt"
	"os"
)

// InitFile creates a configuration file as `mosquitto_ctrl dynsec init
// FILE USER PASSWORD` does: one client, username, with the password and
// the role "admin", which may use the control API, read $SYS and read and
// subscribe to everything, but not publish to ordinary topics; by default
// clients may receive and unsubscribe but not publish or subscribe. It
// refuses to overwrite an existing file. The file is created 0600.
func InitFile(path, username, password string) error {
	p, err := newPassword(password)
	if err != nil {
		return err
	}
	acls := jsonArr()
	for _, a := range [][2]string{
		{"publishClientSend", "$CONTROL/dynamic-security/#"},
		{"publishClientReceive", "$CONTROL/dynamic-security/#"},
		{"subscribePattern", "$CONTROL/dynamic-security/#"},
		{"publishClientReceive", "$SYS/#"},
		{"subscribePattern", "$SYS/#"},
		{"publishClientReceive", "#"},
		{"subscribePattern", "#"},
		{"unsubscribePattern", "#"},
	} {
		acls.add(jsonObj().set("acltype", jsonStr(a[0])).set("topic", jsonStr(a[1])).set("allow", jsonBool(true)))
	}
	admin := jsonObj().
		set("username", jsonStr(username)).
		set("textName", jsonStr("Dynsec admin user")).
		set("password", jsonStr(p.encodedHash())).
		set("salt", jsonStr(p.encodedSalt())).
		set("iterations", jsonInt(p.iterations)).
		set("roles", jsonArr().add(jsonObj().set("rolename", jsonStr("admin"))))
	tree := jsonObj().
		set("clients", jsonArr().add(admin)).
		set("roles", jsonArr().add(jsonObj().set("rolename", jsonStr("admin")).set("acls", acls))).
		set("defaultACLAccess", jsonObj().
			set("publishClientSend", jsonBool(false)).
			set("publishClientReceive", jsonBool(true)).
			set("subscribe", jsonBool(false)).
			set("unsubscribe", jsonBool(true)))

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if os.IsExist(err) {
			return fmt.Errorf("dynsec init: %s already exists: remove it or use another file", path)
		}
		return fmt.Errorf("dynsec init: %w", err)
	}
	if _, err = f.Write(tree.marshal(true)); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("dynsec init: writing %s: %w", path, err)
	}
	return nil
}
