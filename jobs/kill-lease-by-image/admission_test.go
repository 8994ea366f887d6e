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
