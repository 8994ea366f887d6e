package main

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/imagematch"
	"github.com/akash-janitor/akash-janitor/lib/imagematch/imagematchtest"
)

const us = "akash1provider"

func leaseOf(dseq uint64, provider string, images ...string) leaseImages {
	id := akash.LeaseID{Owner: "akash1owner", DSeq: dseq, GSeq: 1, OSeq: 1, Provider: provider}
	l := leaseImages{name: id.Namespace(), id: id}
	for i, img := range images {
		l.services = append(l.services, akash.ManifestService{Name: string(rune('a' + i)), Image: img})
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
			want: []string{`service a runs docker.io/packetstream/psclient:latest (denied by "packetstream/psclient")`}},
		"two services, one reason each": {lease: leaseOf(2, us, "nginx", "packetstream/psclient:2", "packetstream/psclient:2"),
			want: []string{`service b runs docker.io/packetstream/psclient:2 (denied by "packetstream/psclient")`,
				`service c runs docker.io/packetstream/psclient:2 (denied by "packetstream/psclient")`}},
		"another provider's lease": {lease: leaseOf(3, "akash1other", "packetstream/psclient")},
		"allowlisted":              {lease: leaseOf(4, us, "packetstream/psclient:ok")},
		"what the runtime resolved": {lease: running(leaseOf(5, us, "ghcr.io/x/app:1"), "ghcr.io/x/app:1", "ghcr.io/x/app@"+imagematchtest.DigestDenied),
			want: []string{"service a runs ghcr.io/x/app@" + imagematchtest.DigestDenied + ` (container web of pod web-0, the runtime's image ID; denied by "` + imagematchtest.DigestDenied + `")`}},
		"the Manifest and the runtime agree: said once": {lease: running(leaseOf(6, us, "packetstream/psclient"), "docker.io/packetstream/psclient:latest", ""),
			want: []string{`service a runs docker.io/packetstream/psclient:latest (denied by "packetstream/psclient")`}},
		"an image that does not parse": {lease: running(leaseOf(7, us, "Bad/UPPER"), "", "not a digest:"), notes: 2},
		"no lease ID":                  {lease: leaseImages{name: "x", idErr: errors.New("dseq: empty")}, notes: 1},
	} {
		t.Run(name, func(t *testing.T) {
			denials, notes := plan(observed{leases: []leaseImages{tc.lease}}, lists, us)
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
	d, _ := plan(observed{leases: []leaseImages{leaseOf(30, us, "x/y"), leaseOf(10, us, "x/y"), leaseOf(20, us, "x/y")}}, lists, us)
	require.Len(t, d, 3)
	assert.True(t, d[0].id.String() < d[1].id.String() && d[1].id.String() < d[2].id.String())
}
