/**
 * DICOMweb under `/dicom-web`, on the paths Orthanc's DICOMweb plugin serves, so that viewers configured
 * for it (OHIF and others) work unchanged: QIDO-RS searches (qido.ts), WADO-RS retrieval (wado.ts) and
 * STOW-RS storage (stow.ts), over the same index and stored files as the API and DIMSE Query/Retrieve.
 * Authentication and roles are the API's (policy.ts): reading needs a USER, storing too.
 */
import { Hono } from 'hono';
import type { AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { qidoRoutes } from './qido.js';
import { stowRoutes } from './stow.js';
import { wadoRoutes } from './wado.js';

export function dicomWebRoutes(deps: ApiDeps): Hono<AuthEnv> {
  return (
    new Hono<AuthEnv>()
      .route('/', qidoRoutes(deps))
      .route('/', wadoRoutes(deps))
      .route('/', stowRoutes(deps))
      // Paths DICOMweb does not serve here stay a 404 (as /api's do), not the web UI's page.
      .get('/*', (c) => c.text(`No route for ${c.req.method} ${c.req.path}`, 404))
  );
}
