package bench

import (
	"fmt"
	"strings"
)

// Scenario names.
const (
	Fanout = "fanout" // publishers -> many subscribers of the same topics
	Fanin  = "fanin"  // many publishers, each on its own topic -> subscribers of all
	Pairs  = "pairs"  // publisher i -> subscriber i, one topic per pair
	Shared = "shared" // publishers -> one shared subscription group
	Idle   = "idle"   // connections that only connect and stay
)

// ScenarioNames lists the scenario names in the order help texts show them.
func ScenarioNames() []string { return []string{Fanout, Fanin, Pairs, Shared, Idle} }

// plan is who publishes where and who subscribes to what, with how many
// deliveries each publisher's messages should cause.
type plan struct {
	pubTopics   []string
	subFilters  []string
	slowFilters []string
	perMessage  []int // per publisher: deliveries expected to normal subscribers
}

// shareGroup is the group name of the shared scenario's subscriptions.
const shareGroup = "bench"

// makePlan builds the plan of a message scenario from a Config whose
// defaults have been applied.
func makePlan(c *Config) plan {
	var p plan
	base := c.TopicPrefix + "/" + c.Scenario
	topic := func(i int) string { return fmt.Sprintf("%s/%d", base, i) }
	for i := range c.Publishers {
		switch c.Scenario {
		case Fanout, Shared:
			p.pubTopics = append(p.pubTopics, topic(i%c.Topics))
		default: // Fanin, Pairs: one topic per publisher
			p.pubTopics = append(p.pubTopics, topic(i))
		}
	}
	for j := range c.Subscribers {
		switch c.Scenario {
		case Fanout:
			p.subFilters = append(p.subFilters, topic(j%c.Topics))
		case Shared:
			p.subFilters = append(p.subFilters, "$share/"+shareGroup+"/"+topic(j%c.Topics))
		case Fanin:
			p.subFilters = append(p.subFilters, base+"/+")
		case Pairs:
			p.subFilters = append(p.subFilters, topic(j))
		}
	}
	// Slow subscribers take the traffic of the first publisher's topic
	// with a plain (never shared) subscription, so that the broker must
	// deliver to them whatever it delivers to the others.
	for range c.SlowSubscribers {
		f := p.pubTopics[0]
		if c.Scenario == Fanin {
			f = base + "/+"
		}
		p.slowFilters = append(p.slowFilters, f)
	}
	for _, t := range p.pubTopics {
		p.perMessage = append(p.perMessage, deliveries(p.subFilters, t))
	}
	return p
}

// deliveries counts the messages the broker sends to the subscribers
// holding filters for one message on topic: one per matching plain
// subscription and one per shared group with a matching member.
func deliveries(filters []string, topic string) int {
	n := 0
	groups := map[string]bool{}
	for _, f := range filters {
		if rest, ok := strings.CutPrefix(f, "$share/"); ok {
			group, filter, _ := strings.Cut(rest, "/")
			if matches(filter, topic) && !groups[group] {
				groups[group] = true
				n++
			}
			continue
		}
		if matches(f, topic) {
			n++
		}
	}
	return n
}

// matches reports whether a topic filter with + and # wildcards matches a
// topic name.
func matches(filter, topic string) bool {
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore || !tmore {
			// "a/#" also matches "a" [MQTT-4.7.1-2].
			return fmore == tmore || (fmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}
