{{- /*
The ValidatingWebhookConfiguration serve applies once it is ready (--webhook-configuration):
the chart renders it into a ConfigMap, never as an object of the release, so that a webhook
that never starts never blocks a write. One entry per row of the kind table (_kinds.tpl,
generated from api/kinds), the same entries as framework.WebhookConfiguration
(test/framework) in Go; test/chart keeps the two in step.
*/}}
{{- define "cpg.webhookConfiguration" -}}
{{- $fullname := include "cpg.fullname" . }}
{{- $namespaceSelector := include "cpg.namespaceSelector" . }}
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "cpg.labels" . | nindent 4 }}
  {{- if .Values.certManager.enabled }}
  annotations:
    # cert-manager's cainjector copies the serving certificate's CA into every caBundle.
    cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ $fullname }}-serving-cert
  {{- end }}
webhooks:
  {{- $rows := include "cpg.kinds" . | fromYamlArray }}
  {{- if .Values.webhook.workloads.enabled }}
  {{- $rows = concat $rows (include "cpg.workloads" . | fromYamlArray) }}
  {{- end }}
  {{- range $rows }}
  - name: {{ lower .kind }}.consul-peering-guard.io
    admissionReviewVersions: ["v1"]
    clientConfig:
      service:
        name: {{ $fullname }}
        namespace: {{ $.Release.Namespace }}
        path: /validate-{{ .group | replace "." "-" }}-{{ .version }}-{{ lower .kind }}
        port: 443
      {{- if not $.Values.certManager.enabled }}
      caBundle: {{ include "cpg.caBundle" $ }}
      {{- end }}
    failurePolicy: {{ if .meta }}{{ $.Values.webhook.workloads.failurePolicy }}{{ else }}{{ $.Values.webhook.failurePolicy }}{{ end }}
    matchPolicy: Equivalent
    sideEffects: None
    timeoutSeconds: {{ $.Values.webhook.timeoutSeconds }}
    {{- with $namespaceSelector }}
    namespaceSelector:
      {{- . | nindent 6 }}
    {{- end }}
    {{- with $.Values.webhook.objectSelector }}
    objectSelector:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- if .meta }}
    # Only pods that carry the upstreams annotation, as a person or a GitOps tool wrote them,
    # are sent: never what a controller made from them (a ReplicaSet of a Deployment, a Job
    # of a CronJob, their Pods), whose denial would freeze a rollout that kubectl reported as
    # done. Every other pod write never reaches the webhook.
    {{- else }}
    # An object being deleted is never sent: removing its finalizer must work while no
    # webhook pod answers. object is null only for DELETE, which is not registered.
    {{- end }}
    matchConditions:
      - name: not-being-deleted
        expression: "object != null && !has(object.metadata.deletionTimestamp)"
      {{- with $.Values.webhook.matchConditions }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
      {{- with .meta }}
      - name: has-upstreams-annotation
        expression: "has({{ . }}.annotations) && 'consul.hashicorp.com/connect-service-upstreams' in {{ . }}.annotations"
      - name: no-controller-owner
        expression: "!has(object.metadata.ownerReferences) || !object.metadata.ownerReferences.exists(r, has(r.controller) && r.controller)"
      {{- end }}
    rules:
      - apiGroups: [{{ .group | quote }}]
        apiVersions: [{{ .version | quote }}]
        operations: ["CREATE", "UPDATE"]
        resources: ["{{ .plural }}"]
        scope: Namespaced
  {{- end }}
{{- end }}
