//go:build unix

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/auth/dynsec"
	"github.com/midge-mqtt/midge/internal/packet"
)

// connackCode connects over 3.1.1 and returns the CONNACK's return code.
func connackCode(t *testing.T, port int, user, pass string) packet.ReasonCode {
	t.Helper()
	nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p := &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, ClientID: "c-" + user, CleanStart: true, KeepAlive: 60}
	if user != "" {
		p.Username, p.UsernameFlag, p.Password, p.PasswordFlag = user, true, []byte(pass), true
	}
	b, _ := packet.Append(nil, p, packet.V311)
	nc.Write(b)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	ack, err := packet.ReadPacket(nc, packet.V311, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ack.(*packet.Connack).ReasonCode
}

// A reload that drops the plugin lines keeps the plugin and the previous
// security as a whole: plugins are loaded at the start only.
func TestDynsecPluginSurvivesReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "dynsec.json")
	if err := dynsec.InitFile(file, "admin", "adminpw"); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	base := []string{"user root", fmt.Sprintf("listener %d 127.0.0.1", port)}
	conf := writeConf(t, append(base, "allow_anonymous false",
		"plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so", "plugin_opt_config_file "+file)...)
	cmd, log := startMidge(t, "midge", "-c", conf)
	check := func(when string) {
		t.Helper()
		if rc := connackCode(t, port, "admin", "adminpw"); rc != 0 {
			t.Errorf("%s: admin refused (%d)", when, rc)
		}
		if rc := connackCode(t, port, "admin", "wrong"); rc == 0 {
			t.Errorf("%s: a wrong password accepted", when)
		}
		if rc := connackCode(t, port, "", ""); rc == 0 {
			t.Errorf("%s: an anonymous client accepted", when)
		}
	}
	check("at the start")
	os.WriteFile(conf, []byte(strings.Join(append(base, "allow_anonymous true"), "\n")+"\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, log, "plugins are loaded at the start only")
	check("after the reload")
	stopMidge(t, cmd.Process.Pid, cmd.Wait)
}
