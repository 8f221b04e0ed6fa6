/** The local gateway's routing: the route table's paths compiled to patterns, and a request matched to one. */
import { routeKey, type RouteDef } from '../../functions/routes.js';
import { GatewayResponse } from './gateway-response.js';

export interface CompiledRoute {
  route: RouteDef;
  key: string;
  pattern: RegExp;
  params: string[];
}

export function compile(route: RouteDef): CompiledRoute {
  const params: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const greedy = /^\{(\w+)\+\}$/.exec(segment);
      if (greedy) {
        params.push(greedy[1]!);
        return '(.+)';
      }
      const param = /^\{(\w+)\}$/.exec(segment);
      if (param) {
        params.push(param[1]!);
        return '([^/]+)';
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { route, key: routeKey(route), pattern: new RegExp(`^${source}$`), params };
}

/** The route of `method` and `path`, and its path parameters (decoded); a parameter that does not decode is a 400. */
export function matchRoute(compiledRoutes: readonly CompiledRoute[], method: string, path: string): { compiled: CompiledRoute; pathParameters: Record<string, string> } | undefined {
  for (const compiled of compiledRoutes) {
    if (compiled.route.method !== method) continue;
    const m = compiled.pattern.exec(path);
    if (!m) continue;
    const pathParameters: Record<string, string> = {};
    compiled.params.forEach((name, i) => {
      try {
        pathParameters[name] = decodeURIComponent(m[i + 1]!);
      } catch {
        // Named like every other refusal (the field and the rule), not a bare Bad Request.
        throw new GatewayResponse(400, 'Bad Request', [{ field: `path.${name}`, rule: 'percent_encoding', message: `the ${name} path parameter must be percent-encoded UTF-8` }]);
      }
    });
    return { compiled, pathParameters };
  }
  return undefined;
}
