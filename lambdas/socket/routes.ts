/** The main socket's routes: route selection is `$request.body.name`, as on API Gateway. */
export const MAIN_SOCKET_ROUTES = ['$connect', '$disconnect', '$default', 'ping'] as const;
export type MainSocketRoute = (typeof MAIN_SOCKET_ROUTES)[number];
export const ROUTE_SELECTION_EXPRESSION = '$request.body.name';
