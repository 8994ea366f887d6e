package main

import (
	"fmt"
	"math"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
)

// checked is a certificate with its days left (to a tenth, floored) and
// its level: "", warning or critical.
type checked struct {
	cert
	daysLeft float64
	level    string
}

// planned is every certificate checked, the findings (one a certificate
// below --warn-days, on the node), and how many are critical.
type planned struct {
	checked  []checked
	findings []actuator.Action
	critical int
}

// plan judges each certificate against the thresholds at now. Pure.
func plan(certs []cert, now time.Time, warnDays, critDays int, nodeName string) planned {
	var p planned
	node := actuator.Ref{APIVersion: "v1", Kind: "Node", Name: nodeName}
	for _, c := range certs {
		days := c.notAfter.Sub(now).Hours() / 24
		ch := checked{cert: c, daysLeft: math.Floor(days*10) / 10}
		switch {
		case days < float64(critDays):
			ch.level = "critical"
			p.critical++
		case days < float64(warnDays):
			ch.level = "warning"
		}
		p.checked = append(p.checked, ch)
		if ch.level == "" {
			continue
		}
		msg := fmt.Sprintf("%s: certificate %s (%s) expires %s, in %.1f days; %s", ch.level, c.where, c.subject, c.notAfter.Format(time.RFC3339), days, renewal)
		if days < 0 {
			msg = fmt.Sprintf("%s: certificate %s (%s) EXPIRED %s; %s", ch.level, c.where, c.subject, c.notAfter.Format(time.RFC3339), renewal)
		}
		p.findings = append(p.findings, actuator.Action{Verb: "certificate-expiring", Target: node, Subject: c.where, Reason: "CertificateExpiring", Message: msg})
	}
	return p
}
