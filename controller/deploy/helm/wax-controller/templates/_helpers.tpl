{{- define "wax-controller.labels" -}}
app.kubernetes.io/name: wax-controller
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "wax-controller.selectorLabels" -}}
app.kubernetes.io/name: wax-controller
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "wax-controller.fullname" -}}
{{- if eq .Release.Name "wax-controller" -}}wax-controller{{- else -}}{{ printf "%s-wax-controller" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}
