import { Hono } from 'hono';
import type { ApiDeps } from './deps.js';
import { guard, trustedProxies, type AuthEnv } from './auth.js';
import { onError } from './problem.js';
import { systemRoutes } from './routes/system.js';
import { metadataRoutes } from './routes/metadata.js';
import { imagesRoutes } from './routes/images.js';
import { sourcesRoutes } from './routes/sources.js';
import { pipelinesRoutes } from './routes/pipelines.js';
import { quarantineRoutes } from './routes/quarantine.js';
import { usersRoutes } from '../users/routes.js';
import { seriesTypesRoutes } from '../series-types/routes.js';
import { seriesLabelsRoutes } from '../series-types/label-routes.js';
import { filteringRoutes } from '../tag-filters/routes.js';
import { destinationsRoutes, scusRoutes } from '../forwarding/scu-routes.js';
import { forwardingRoutes } from '../forwarding/routes.js';
import { logRoutes } from '../log/routes.js';
import { directoryWatchesRoutes, importRoutes, scpsRoutes } from '../managed-sources/routes.js';
import { boxesRoutes } from '../boxes/routes.js';
import { transactionsRoutes } from '../boxes/transaction-routes.js';
import { imageToolsRoutes } from './routes/image-tools.js';
import { renderRoutes } from './routes/render.js';
import { anonymizationRoutes, imageAnonymizationRoutes } from '../anonymization/routes.js';
import { httpMetrics, metricsRoutes, readinessRoutes } from '../ops/routes.js';
import { openApiDocument } from './openapi/document.js';
import { dicomWebRoutes } from './dicom-web/index.js';
import { uiRoutes } from '../ui/server.js';

/** The HTTP API: Slicebox's routes under /api, and ours beside them. No globals; tests call app.request(). */
export function createApp(deps: ApiDeps): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.use('*', httpMetrics());
  // Every path, not only /api: a route added anywhere is protected by the policy's defaults.
  app.use(
    '*',
    guard(deps.users, trustedProxies(deps.trustedProxies ?? []), {
      openOnLoopback: deps.engine.services.config.metricsOpenOnLoopback,
    }),
  );
  app.route('/api/system', systemRoutes(deps));
  app.route('/api/system', readinessRoutes(deps));
  app.route('/metrics', metricsRoutes(deps));
  // Built from every route the app registers (this one included) when asked.
  app.get('/api/openapi.json', (c) => c.json(openApiDocument(app.routes, deps.version)));
  app.route('/api/users', usersRoutes(deps));
  app.route('/api/metadata', metadataRoutes(deps));
  app.route('/api/metadata', seriesLabelsRoutes(deps));
  app.route('/api/seriestypes', seriesTypesRoutes(deps));
  app.route('/api/filtering', filteringRoutes(deps));
  app.route('/api/images', imageToolsRoutes(deps)); // before imagesRoutes: `export` is not an `:id`
  app.route('/api/images', imagesRoutes(deps));
  app.route('/api', renderRoutes(deps));
  app.route('/api/images', imageAnonymizationRoutes(deps));
  app.route('/api/anonymization', anonymizationRoutes(deps));
  app.route('/api/sources', sourcesRoutes(deps));
  app.route('/api/pipelines', pipelinesRoutes(deps));
  app.route('/api/quarantine', quarantineRoutes(deps));
  app.route('/api/scus', scusRoutes(deps));
  app.route('/api/destinations', destinationsRoutes(deps));
  app.route('/api/forwarding', forwardingRoutes(deps));
  app.route('/api/log', logRoutes(deps));
  app.route('/api/scps', scpsRoutes(deps));
  app.route('/api/directorywatches', directoryWatchesRoutes(deps));
  app.route('/api/import', importRoutes(deps));
  app.route('/api/boxes', boxesRoutes(deps));
  app.route('/api/transactions', transactionsRoutes(deps));
  app.route('/dicom-web', dicomWebRoutes(deps));
  app.route('/', uiRoutes()); // last: the web UI takes the GET paths no route above answered
  app.notFound((c) => c.text(`No route for ${c.req.method} ${c.req.path}`, 404));
  app.onError(onError);
  return app;
}
