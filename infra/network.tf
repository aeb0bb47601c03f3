# Cloud SQL has a private IP only; functions reach it through a Serverless VPC Access
# connector (private ranges only: Telegram and KIE are called directly).
resource "google_compute_network" "main" {
  # checkov:skip=CKV2_GCP_18:no VM lives here, only the VPC Access connector (it adds its own rules) and Cloud SQL's peering; the network's implied deny-all ingress applies
  name                    = var.name
  auto_create_subnetworks = false
  depends_on              = [google_project_service.apis]
}

resource "google_compute_global_address" "sql_range" {
  name          = "${var.name}-sql-range"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 20
  network       = google_compute_network.main.id
}

resource "google_service_networking_connection" "sql" {
  network                 = google_compute_network.main.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.sql_range.name]
}

resource "google_vpc_access_connector" "main" {
  name          = "${var.name}-vpc"
  region        = var.region
  network       = google_compute_network.main.name
  ip_cidr_range = var.vpc_connector_cidr
  machine_type  = "e2-micro"
  min_instances = 2
  max_instances = 3
}
