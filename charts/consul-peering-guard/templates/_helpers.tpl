{{/* Chart name, shortened to the 63 characters a label value allows. */}}
{{- define "cpg.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name: the release name, plus the chart name unless the release
name already contains it. */}}
{{- define "cpg.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cpg.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cpg.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cpg.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cpg.labels" -}}
helm.sh/chart: {{ include "cpg.chart" . }}
{{ include "cpg.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "cpg.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cpg.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Without cert-manager the user brings both the serving Secret and its CA; fail naming
everything missing. */}}
{{- define "cpg.checkTLS" -}}
{{- if not .Values.certManager.enabled }}
{{- $missing := list }}
{{- if not .Values.tls.existingSecret }}
{{- $missing = append $missing "tls.existingSecret (a kubernetes.io/tls Secret in the release namespace for the webhook Service)" }}
{{- end }}
{{- if not .Values.tls.caBundle }}
{{- $missing = append $missing "tls.caBundle (base64 of the PEM CA that signed it)" }}
{{- end }}
{{- if $missing }}
{{- fail (printf "certManager.enabled is false, so set %s" (join " and " $missing)) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The Secret holding tls.crt and tls.key: cert-manager's, or the one the user brings. */}}
{{- define "cpg.servingSecret" -}}
{{- include "cpg.checkTLS" . }}
{{- if .Values.certManager.enabled }}
{{- printf "%s-tls" (include "cpg.fullname" .) }}
{{- else }}
{{- .Values.tls.existingSecret }}
{{- end }}
{{- end }}

{{/* The CA bundle of the webhook configuration when cert-manager does not inject it. */}}
{{- define "cpg.caBundle" -}}
{{- include "cpg.checkTLS" . }}
{{- .Values.tls.caBundle }}
{{- end }}

{{/* Whole seconds of a duration of the form 1m30s, 20s, 2m or 0 (values.schema.json allows
only these). */}}
{{- define "cpg.seconds" -}}
{{- $m := regexFind "[0-9]+m" . | trimSuffix "m" | default "0" | atoi }}
{{- $s := regexFind "[0-9]+s" . | trimSuffix "s" | default "0" | atoi }}
{{- add (mul $m 60) $s }}
{{- end }}

{{/* The metrics port of the container and the Service. */}}
{{- define "cpg.metricsPort" -}}
{{- if .Values.metrics.secure }}8443{{ else }}8080{{ end }}
{{- end }}

{{- define "cpg.metricsPortName" -}}
{{- if .Values.metrics.secure }}https-metrics{{ else }}http-metrics{{ end }}
{{- end }}

{{/* The webhooks' namespaceSelector: webhook.namespaceSelector with the exempt namespaces
added as a NotIn requirement on the name label the API server sets on every namespace. */}}
{{- define "cpg.namespaceSelector" -}}
{{- $sel := deepCopy (.Values.webhook.namespaceSelector | default dict) }}
{{- with .Values.webhook.exemptNamespaces }}
{{- $exempt := dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" . }}
{{- $_ := set $sel "matchExpressions" (append ($sel.matchExpressions | default list) $exempt) }}
{{- end }}
{{- if $sel }}
{{- toYaml $sel }}
{{- end }}
{{- end }}

{{/* The matchResources of the ValidatingAdmissionPolicyBindings: the webhook entries'
namespaceSelector (exempt namespaces included) and objectSelector, so that break glass
reaches the policies too; empty when both are. */}}
{{- define "cpg.policyMatchResources" -}}
{{- $ns := include "cpg.namespaceSelector" . }}
{{- if or $ns .Values.webhook.objectSelector }}
matchResources:
  {{- with $ns }}
  namespaceSelector:
    {{- . | nindent 4 }}
  {{- end }}
  {{- with .Values.webhook.objectSelector }}
  objectSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{/* GOMEMLIMIT in bytes: 90% of resources.limits.memory, empty without a memory limit.
values.schema.json admits only the quantities parsed here. */}}
{{- define "cpg.goMemLimit" -}}
{{- $limit := dig "limits" "memory" "" (.Values.resources | default dict) }}
{{- if $limit }}
{{- $bytes := 0 }}
{{- if kindIs "string" $limit }}
{{- $digits := regexFind "^[0-9]+" $limit }}
{{- $units := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 }}
{{- $suffix := trimPrefix $digits $limit }}
{{- if or (not $digits) (not (hasKey $units $suffix)) }}
{{- fail (printf "resources.limits.memory %q: write bytes or an integer with Ki, Mi, Gi, Ti, k, M, G or T" $limit) }}
{{- end }}
{{- $bytes = mul (int64 $digits) (get $units $suffix) }}
{{- else }}
{{- $bytes = int64 $limit }}
{{- end }}
{{- div (mul $bytes 9) 10 }}
{{- end }}
{{- end }}
