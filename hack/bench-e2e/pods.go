package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
)

// podsSection measures what the workload entries cost the writes they are not meant for:
// creating Pods without the upstreams annotation with no webhook configuration, and with
// ours registered (its Pod entry's match conditions keep the request from the webhook). It
// also reports how many reviews of Pods the webhook answered, which must be zero.
func (b *bench) podsSection(ctx context.Context, n, rounds int) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "default"}}
	if err := b.cluster.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	reviewsBefore := b.podReviews()
	var without, with []time.Duration
	for r := 0; r < rounds; r++ {
		for _, registered := range []bool{false, true} {
			setup := b.noAdmission
			if registered {
				setup = b.useWebhook
			}
			if err := setup(ctx); err != nil {
				return "", err
			}
			if _, err := b.createPods(ctx, fmt.Sprintf("warm-%d-%v", r, registered), 20); err != nil {
				return "", err
			}
			lat, err := b.createPods(ctx, fmt.Sprintf("r%d-%v", r, registered), n)
			if err != nil {
				return "", err
			}
			if registered {
				with = append(with, lat...)
			} else {
				without = append(without, lat...)
			}
			if err := b.cluster.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace("default"), client.GracePeriodSeconds(0)); err != nil {
				return "", err
			}
		}
	}
	p50a, p99a := percentiles(without)
	p50b, p99b := percentiles(with)
	var s strings.Builder
	fmt.Fprintf(&s, "\nPods without the upstreams annotation, %d rounds x %d sequential creates per setup:\n\n", rounds, n)
	s.WriteString("| setup | p50 | p99 | added p50 | added p99 |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&s, "| (a) no webhook configuration | %s | %s | %s | %s |\n", ms(p50a), ms(p99a), ms(0), ms(0))
	fmt.Fprintf(&s, "| (b) ours registered, workload entries included | %s | %s | %s | %s |\n", ms(p50b), ms(p99b), ms(p50b-p50a), ms(p99b-p99a))
	fmt.Fprintf(&s, "\nReviews of Pods the webhook answered meanwhile: %.0f (the match conditions send none).\n", b.podReviews()-reviewsBefore)
	return s.String(), nil
}

func (b *bench) podReviews() float64 { return b.guard.Reviews(string(kinds.Pod)) }

// createPods creates n Pods without the annotation, one after another, and returns each
// create's latency.
func (b *bench) createPods(ctx context.Context, prefix string, n int) ([]time.Duration, error) {
	no := false
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, i), Namespace: "default",
				Annotations: map[string]string{"team": "web"}},
			Spec: corev1.PodSpec{AutomountServiceAccountToken: &no, Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
		}
		start := time.Now()
		if err := b.cluster.Client.Create(ctx, pod); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}
