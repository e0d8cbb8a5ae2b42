package service

import (
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"strconv"
)

// writePidFile writes the process id to path, as pid_file asks. Mosquitto
// exits when it cannot.
func writePidFile(path string) error {
	if path == "" {
		return nil
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("unable to write pid file: %w", err)
	}
	return nil
}

// dropPrivileges switches to the configured user when started as root,
// after the listeners and log files are open, as Mosquitto does. The
// default user is "mosquitto"; if that user does not exist, Mosquitto
// falls back to "nobody", and so do we. Any other missing user is an
// error. "root" (or an empty value) keeps root.
func dropPrivileges(name string, log *slog.Logger) error {
	if os.Geteuid() != 0 || name == "" || name == "root" {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		if name != "mosquitto" {
			return fmt.Errorf("unable to drop privileges to '%s' because this user does not exist", name)
		}
		log.Warn(fmt.Sprintf("Warning: Unable to drop privileges to '%s' because this user does not exist. Trying 'nobody' instead.", name))
		if u, err = user.Lookup("nobody"); err != nil {
			return fmt.Errorf("unable to drop privileges to 'nobody'")
		}
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("user %s has a non-numeric uid or gid", u.Username)
	}
	groups, err := u.GroupIds()
	if err != nil {
		return fmt.Errorf("unable to read the groups of %s: %w", u.Username, err)
	}
	gids := []int{gid}
	for _, g := range groups {
		if n, err := strconv.Atoi(g); err == nil && n != gid {
			gids = append(gids, n)
		}
	}
	return setIDs(uid, gid, gids)
}
