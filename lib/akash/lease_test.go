package akash

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The pair shown by `kubectl -n lease get manifest --show-labels` in the
// provider runbook: a real lease and the namespace the provider gave it.
var runbookLease = LeaseID{
	Owner:    "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h",
	DSeq:     8438017,
	GSeq:     1,
	OSeq:     1,
	Provider: "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0",
}

func TestNamespaceKnownPairs(t *testing.T) {
	tests := []struct {
		id   LeaseID
		want string
	}{
		{runbookLease, "5reb3l87s85t50v77sosktvdeeg6pfbnlboigoprqv3d4"},
		// Computed independently: python3 hashlib.sha224 + base64.b32hexencode.
		{LeaseID{Owner: "akash1owner", DSeq: 1, GSeq: 1, OSeq: 1, Provider: "akash1provider"}, "ipl900tdt16lvh5gpl1ua1qnqjkt9ot0fpsfcumgmm4ti"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			got := tt.id.Namespace()
			assert.Equal(t, tt.want, got)
			assert.Len(t, got, 45, "a DNS label the provider can use")
		})
	}
}

func TestLeaseIDString(t *testing.T) {
	assert.Equal(t,
		"akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h/8438017/1/1/akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0",
		runbookLease.String())
	back, err := ParseLeaseID(runbookLease.String())
	require.NoError(t, err)
	assert.Equal(t, runbookLease, back)
}

func TestLeaseIDFromLabels(t *testing.T) {
	good := runbookLease.Labels()
	id, err := LeaseIDFromLabels(good)
	require.NoError(t, err)
	assert.Equal(t, runbookLease, id)
	assert.Equal(t, runbookLease.Namespace(), good[LabelNamespace])

	with := func(key, value string) map[string]string {
		l := runbookLease.Labels()
		if value == "<delete>" {
			delete(l, key)
		} else {
			l[key] = value
		}
		return l
	}
	tests := []struct {
		name    string
		labels  map[string]string
		wantErr []string
	}{
		{"no labels", nil, []string{LabelLeaseOwner + " is missing", LabelLeaseDSeq + " is missing", LabelLeaseGSeq + " is missing", LabelLeaseOSeq + " is missing", LabelLeaseProvider + " is missing"}},
		{"owner missing", with(LabelLeaseOwner, "<delete>"), []string{"label akash.network/lease.id.owner is missing"}},
		{"owner empty", with(LabelLeaseOwner, ""), []string{"label akash.network/lease.id.owner is missing"}},
		{"dseq not a number", with(LabelLeaseDSeq, "12a"), []string{`label akash.network/lease.id.dseq="12a" is not a positive 64-bit integer`}},
		{"dseq negative", with(LabelLeaseDSeq, "-3"), []string{`akash.network/lease.id.dseq="-3"`}},
		{"gseq zero", with(LabelLeaseGSeq, "0"), []string{`label akash.network/lease.id.gseq="0" is not a positive 32-bit integer`}},
		{"oseq overflows", with(LabelLeaseOSeq, "4294967296"), []string{`akash.network/lease.id.oseq="4294967296" is not a positive 32-bit integer`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LeaseIDFromLabels(tt.labels)
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestParseLeaseIDErrors(t *testing.T) {
	for _, s := range []string{"", "a/1/1/1", "a/1/1/1/p/x", "a/x/1/1/p", "/1/1/1/p"} {
		_, err := ParseLeaseID(s)
		require.Error(t, err, s)
		assert.Contains(t, err.Error(), `"`+s+`"`, "the error names the input")
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, runbookLease.Validate())
	err := LeaseID{}.Validate()
	require.Error(t, err)
	for _, want := range []string{"owner is empty", "provider is empty", "dseq is 0", "gseq is 0", "oseq is 0"} {
		assert.Contains(t, err.Error(), want)
	}
}
