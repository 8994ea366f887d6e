package kube

import "k8s.io/client-go/util/flowcontrol"

func newTokenBucket(qps float32, burst int) flowcontrol.RateLimiter {
	if burst < 1 {
		burst = 1
	}
	return flowcontrol.NewTokenBucketRateLimiter(qps, burst)
}
