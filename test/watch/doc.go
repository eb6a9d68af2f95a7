// Package watch tests what operators watch dra with against the real
// tools: the Grafana dashboard's queries (deploy/grafana/dra.json) through
// a real prometheus scraping a running agent under load, the alert rules
// (deploy/prometheus/alerts.yml) with promtool's unit tests, and the admin
// API's status page in headless chromium. test/deps.sh installs the tools.
package watch
