package main

import "testing"

// TestDropInRetainedOrder compares the order in which retained messages
// reach a new subscriber. MQTT leaves it open, but Mosquitto sends them in
// the order the topics were first retained (level by level), and scripts
// that replay state from retained messages can come to rely on it. Six
// topics make a chance match of a random order unlikely (1 in 720).
func TestDropInRetainedOrder(t *testing.T) {
	tools := needMosquitto(t)
	checkDropinLeaks(t)
	files := writeDropinFiles(t, tools)
	brokers := startDropinPair(t, tools, files, true)
	topics := []string{"order/c", "order/a", "order/f", "order/b", "order/e", "order/d"}
	c := dropinCase{name: "retained messages in the order first retained", sub: watchAs(opsSub, "order/#"), clear: topics}
	for _, tp := range topics {
		c.setup = append(c.setup, keepAs(opsPub, tp))
	}
	compareDropin(t, tools, files, brokers, []dropinCase{c}, func(s string) string { return s })
}
