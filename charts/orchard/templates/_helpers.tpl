{{/* The chart name, or nameOverride. */}}
{{- define "orchard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of object names: release name and chart name, or fullnameOverride. */}}
{{- define "orchard.fullname" -}}
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

{{- define "orchard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object of the chart, without a component. */}}
{{- define "orchard.commonLabels" -}}
helm.sh/chart: {{ include "orchard.chart" . }}
app.kubernetes.io/name: {{ include "orchard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: orchard
{{- end }}

{{/* Labels of the operator's own objects. */}}
{{- define "orchard.labels" -}}
{{ include "orchard.commonLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Labels that select the operator Pods. */}}
{{- define "orchard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "orchard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "orchard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "orchard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "orchard.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "orchard.runtimeImage" -}}
{{- printf "%s:%s" .Values.runtimeImage.repository (.Values.runtimeImage.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "orchard.gpuTrainerImage" -}}
{{- printf "%s:%s" .Values.gpuTrainerImage.repository (.Values.gpuTrainerImage.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "orchard.leaseNamespace" -}}
{{- .Values.leaderElection.namespace | default .Release.Namespace }}
{{- end }}

{{/* Leader election is forced on with more than one replica: two active operators would fight over every object. */}}
{{- define "orchard.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{ else }}false{{ end }}
{{- end }}

{{/* Namespaces that get the trainer and scorer ServiceAccounts, as a JSON list. */}}
{{- define "orchard.workloadNamespaces" -}}
{{- $list := list .Release.Namespace }}
{{- range .Values.watch.namespaces }}{{ $list = append $list . }}{{ end }}
{{- $list | uniq | toJson }}
{{- end }}
