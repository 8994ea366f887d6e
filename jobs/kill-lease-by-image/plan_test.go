package main

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/imagematch"
	"github.com/akash-janitor/akash-janitor/lib/imagematch/imagematchtest"
)

const us = "akash1provider"

func leaseOf(dseq uint64, provider string, images ...string) leaseImages {
	id := akash.LeaseID{Owner: "akash1owner", DSeq: dseq, GSeq: 1, OSeq: 1, Provider: provider}
	l := leaseImages{name: id.Namespace(), id: id}
	for i, img := range images {
		l.services = append(l.services, serviceImage{Name: string(rune('a' + i)), Image: img})
	}
	return l
}

func running(l leaseImages, image, imageID string) leaseImages {
	// The provider labels a service's pods with its name.
	l.running = append(l.running, runningImage{pod: "web-0", container: "web", service: l.services[0].Name, image: image, imageID: imageID})
	return l
}

func TestPlan(t *testing.T) {
	lists, err := imagematch.ParseLists([]string{"packetstream/psclient", imagematchtest.DigestDenied}, []string{"packetstream/psclient:ok"})
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		lease leaseImages
		want  []string // the reasons, in order; nil: not closed
		notes int
	}{
		"a denied Manifest image": {lease: leaseOf(1, us, "registry-1.docker.io/packetstream/psclient"),
			want: []string{`service a runs registry-1.docker.io/packetstream/psclient (docker.io/packetstream/psclient:latest; denied by "packetstream/psclient")`}},
		"two services, one reason each": {lease: leaseOf(2, us, "nginx", "packetstream/psclient:2", "packetstream/psclient:2"),
			want: []string{`service b runs packetstream/psclient:2 (docker.io/packetstream/psclient:2; denied by "packetstream/psclient")`,
				`service c runs packetstream/psclient:2 (docker.io/packetstream/psclient:2; denied by "packetstream/psclient")`}},
		"another provider's lease": {lease: leaseOf(3, "akash1other", "packetstream/psclient")},
		"allowlisted":              {lease: leaseOf(4, us, "packetstream/psclient:ok")},
		"what the runtime resolved": {lease: running(leaseOf(5, us, "ghcr.io/x/app:1"), "ghcr.io/x/app:1", "ghcr.io/x/app@"+imagematchtest.DigestDenied),
			want: []string{"service a runs ghcr.io/x/app@" + imagematchtest.DigestDenied + ` (container web of pod web-0, the runtime's image ID; denied by "` + imagematchtest.DigestDenied + `")`}},
		"the Manifest and the runtime agree: said once": {lease: running(leaseOf(6, us, "packetstream/psclient"), "docker.io/packetstream/psclient:latest", ""),
			want: []string{`service a runs packetstream/psclient (docker.io/packetstream/psclient:latest; denied by "packetstream/psclient")`}},
		"as the Manifest wrote it, normalized beside it": {lease: leaseOf(8, us, "docker.io/packetstream/psclient:latest"),
			want: []string{`service a runs docker.io/packetstream/psclient:latest (denied by "packetstream/psclient")`}},
		"an image that does not parse": {lease: running(leaseOf(7, us, "Bad/UPPER"), "", "not a digest:"), notes: 2},
		"no lease ID":                  {lease: leaseImages{name: "x", idErr: errors.New("dseq: empty")}, notes: 1},
	} {
		t.Run(name, func(t *testing.T) {
			denials, notes := deny(observed{leases: []leaseImages{tc.lease}}, lists, us)
			assert.Len(t, notes, tc.notes)
			if tc.want == nil {
				assert.Empty(t, denials)
				return
			}
			require.Len(t, denials, 1)
			assert.Equal(t, tc.lease.id, denials[0].id)
			var got []string
			for _, m := range denials[0].matches {
				got = append(got, m.String())
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// The plan is in lease order, whatever the order observed.
func TestPlanOrder(t *testing.T) {
	lists, err := imagematch.ParseLists([]string{"x/y"}, nil)
	require.NoError(t, err)
	d, _ := deny(observed{leases: []leaseImages{leaseOf(30, us, "x/y"), leaseOf(10, us, "x/y"), leaseOf(20, us, "x/y")}}, lists, us)
	require.Len(t, d, 3)
	assert.True(t, d[0].id.String() < d[1].id.String() && d[1].id.String() < d[2].id.String())
}

// What the chain lists decides what is done with each denied lease.
func TestPlanDecidesWithTheChain(t *testing.T) {
	lists, err := imagematch.ParseLists([]string{"x/y"}, nil)
	require.NoError(t, err)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	obs := observed{chain: map[akash.LeaseID]chain.Lease{}}
	live := func(dseq uint64, state string, r *chain.Reclamation) akash.LeaseID {
		l := leaseOf(dseq, us, "x/y")
		obs.leases = append(obs.leases, l)
		if state != "" {
			obs.chain[l.id] = chain.Lease{ID: l.id, State: state, Reclamation: r}
		}
		return l.id
	}
	active := live(1, chain.StateActive, nil)
	gone := live(2, "", nil)
	unstarted := live(3, chain.StateActive, &chain.Reclamation{Window: 90 * time.Minute})
	inWindow := live(4, chain.StateReclaiming, &chain.Reclamation{Window: time.Hour, StartedAt: 10, Deadline: now.Add(30 * time.Minute)})
	past := live(5, chain.StateReclaiming, &chain.Reclamation{Window: time.Hour, StartedAt: 10, Deadline: now.Add(-time.Second)})
	other := leaseOf(6, "akash1another", "x/y")
	obs.leases = append(obs.leases, other)

	d, notes := plan(obs, lists, us, now)
	assert.Empty(t, notes)
	require.Len(t, d.denials, 5, "only this provider's")
	closes := map[akash.LeaseID]actuator.Action{}
	for _, a := range d.closes {
		closes[mustLease(t, a.Lease)] = a
		assert.Equal(t, verbClose, a.Verb)
		assert.Equal(t, "DeniedImage", a.Reason)
	}
	require.Len(t, closes, 4)
	assert.Empty(t, closes[active].Hold)
	assert.Equal(t, obs.chain[active], closes[active].Payload, "the executor gets the lease as listed")
	assert.Equal(t, `closing the lease: service a runs x/y (docker.io/x/y:latest; denied by "x/y")`, closes[active].Message)
	assert.Equal(t, "the chain lists it neither active nor reclaiming (closed already, or unknown to it): nothing to close", closes[gone].Hold)
	assert.Equal(t, "in its reclamation window; it cannot be closed before its deadline, 2026-12-02T12:30:00Z", closes[inWindow].Hold)
	assert.Empty(t, closes[past].Hold, "past its deadline: closed now")
	require.Len(t, d.starts, 1)
	assert.Equal(t, unstarted.String(), d.starts[0].Lease)
	assert.Equal(t, "start-reclaim", d.starts[0].Verb)
	assert.Equal(t, `starting the lease's reclamation window (1h30m0s), after which a run closes it: service a runs x/y (docker.io/x/y:latest; denied by "x/y")`, d.starts[0].Message)
}

func mustLease(t *testing.T, s string) akash.LeaseID {
	id, err := akash.ParseLeaseID(s)
	require.NoError(t, err)
	return id
}
