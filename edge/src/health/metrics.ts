/**
 * Prometheus metrics of the edge: what a plant's monitoring scrapes at GET /metrics. Counters and
 * histograms are updated by stations as parts go through; gauges are read from the stations at
 * scrape time, so they are never stale.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface StationGauges {
  id: string;
  queueDepth(): number;
  openReviews(): number;
  outboxDepth(): number;
  brokerConnected(): boolean;
}

export class EdgeMetrics {
  readonly registry = new Registry();
  private readonly stations: StationGauges[] = [];
  readonly frames: Counter<'station' | 'source' | 'verdict' | 'reason'>;
  readonly inference: Histogram<'station'>;
  readonly endToEnd: Histogram<'station'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'loupe_process_' });
    this.frames = new Counter({
      name: 'loupe_frames_total',
      help: 'frames inspected (or routed without inspection), by source, verdict and first reason',
      labelNames: ['station', 'source', 'verdict', 'reason'],
      registers: [this.registry],
    });
    const buckets = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
    this.inference = new Histogram({
      name: 'loupe_inference_seconds',
      help: 'decode + preprocess + model run per frame',
      labelNames: ['station'],
      buckets,
      registers: [this.registry],
    });
    this.endToEnd = new Histogram({
      name: 'loupe_part_latency_seconds',
      help: 'frame arrival to result published',
      labelNames: ['station'],
      buckets,
      registers: [this.registry],
    });
    const stations = this.stations;
    const gauge = (name: string, help: string, read: (s: StationGauges) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['station'],
        registers: [this.registry],
        collect() {
          for (const station of stations) this.set({ station: station.id }, read(station));
        },
      });
    gauge('loupe_queue_depth', 'frames waiting for or under inspection', (s) => s.queueDepth());
    gauge('loupe_review_queue_depth', 'reviews waiting for a person', (s) => s.openReviews());
    gauge('loupe_outbox_depth', 'messages written to the outbox and not yet acknowledged by the broker', (s) =>
      s.outboxDepth(),
    );
    gauge('loupe_broker_connected', '1 when the station is connected to the broker', (s) =>
      s.brokerConnected() ? 1 : 0,
    );
  }

  watch(station: StationGauges): void {
    this.stations.push(station);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
