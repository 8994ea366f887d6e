package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
)

func TestWithRefusals(t *testing.T) {
	closes := []actuator.Action{
		{Target: actuator.Ref{Kind: "Namespace", Name: "ns1"}, Message: "closing the lease: service web runs docker.io/x/y:latest"},
		{Target: actuator.Ref{Kind: "Namespace", Name: "ns2"}, Message: "closing the lease: service api runs docker.io/x/y:latest"},
	}
	withRefusals(closes, map[string][]string{"ns1": {"ReplicaSet web-1", "StatefulSet db"}})
	assert.Equal(t, "closing the lease: service web runs docker.io/x/y:latest; the image is also refused at admission (ReplicaSet web-1, StatefulSet db cannot create their pods)", closes[0].Message)
	assert.Equal(t, "closing the lease: service api runs docker.io/x/y:latest", closes[1].Message)
}

// A lease refused at admission is closed first: the provider's monitor
// would close it as unstable within minutes otherwise.
func TestRefusedAtAdmissionFirst(t *testing.T) {
	closes := []actuator.Action{
		{Target: actuator.Ref{Kind: "Namespace", Name: "a"}},
		{Target: actuator.Ref{Kind: "Namespace", Name: "b"}},
		{Target: actuator.Ref{Kind: "Namespace", Name: "c"}},
	}
	withRefusals(closes, map[string][]string{"c": {"ReplicaSet web-1"}})
	var order []string
	for _, a := range closes {
		order = append(order, a.Target.Name)
	}
	assert.Equal(t, []string{"c", "a", "b"}, order)
}
