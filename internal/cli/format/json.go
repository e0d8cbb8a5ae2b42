package format

import (
	"fmt"
	"time"
)

// appendJSONMessage renders %j (escaped=true) or %J like mosquitto's
// json_print. For %J a payload that is not JSON prints nothing here and a
// warning on Options.Warn, and the rest of the format carries on.
func (p *Printer) appendJSONMessage(dst []byte, m *Message, t time.Time, escaped bool) []byte {
	root := jsonValue{kind: jsonObject}
	// strftime("%Y-%m-%dT%H:%M:%S.000000Z%z") with the microseconds patched
	// in, so the 'Z' sits oddly in front of the numeric zone.
	tst := fmt.Sprintf("%s.%06dZ%s", t.Format("2006-01-02T15:04:05"), t.Nanosecond()/1000, t.Format("-0700"))
	root.add("tst", jsonStr(tst))
	root.add("topic", jsonStr(m.Topic))
	root.add("qos", jsonNum(float64(m.QoS)))
	retain := 0.0
	if m.Retain {
		retain = 1
	}
	root.add("retain", jsonNum(retain))
	root.add("payloadlen", jsonNum(float64(len(m.Payload))))
	if m.QoS > 0 {
		root.add("mid", jsonNum(float64(m.MID)))
	}
	if len(m.Props) > 0 {
		root.add("properties", jsonProperties(m.Props))
	}

	var payload jsonValue // null for an empty payload, which libmosquitto stores as NULL
	if len(m.Payload) > 0 {
		if escaped {
			payload = jsonStr(cString(m.Payload))
		} else {
			v, ok := parseCJSON(m.Payload)
			if !ok {
				if p.opts.Warn != nil {
					fmt.Fprintf(p.opts.Warn, "Error: Message payload is not valid JSON on topic %s.\n", m.Topic)
				}
				return dst
			}
			payload = v
		}
	}
	root.add("payload", payload)
	return appendJSON(dst, &root, p.opts.Pretty, 0)
}

// jsonProperties builds the "properties" object in wire order; user
// properties are gathered into one "user-properties" object placed where the
// first of them appeared.
func jsonProperties(props []Property) jsonValue {
	obj := jsonValue{kind: jsonObject}
	userIdx := -1
	for _, pr := range props {
		switch pr.ID {
		case PropPayloadFormat:
			obj.add("payload-format-indicator", jsonNum(float64(pr.Value)))
		case PropMessageExpiry:
			obj.add("message-expiry-interval", jsonNum(float64(pr.Value)))
		case PropContentType:
			obj.add("content-type", jsonStr(pr.Str))
		case PropResponseTopic:
			obj.add("response-topic", jsonStr(pr.Str))
		case PropCorrelationData:
			obj.add("correlation-data", jsonStr(cString(pr.Bin)))
		case PropSubscriptionID:
			obj.add("subscription-identifier", jsonNum(float64(pr.Value)))
		case PropTopicAlias:
			obj.add("topic-alias", jsonNum(float64(pr.Value)))
		case PropUserProperty:
			if userIdx < 0 {
				userIdx = len(obj.items)
				obj.add("user-properties", jsonValue{kind: jsonObject})
			}
			obj.items[userIdx].add(pr.Key, jsonStr(pr.Str))
		}
	}
	return obj
}
