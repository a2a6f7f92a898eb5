/**
 * The metadata index's listings and queries over one SQLite connection: the event loop's (sqlite-index.ts)
 * or a reader thread's (sqlite-index-reader.ts), which build them the same way.
 */
import type Database from 'better-sqlite3';
import type { Level, ListOptions, MetadataQuery } from './metadata-index.js';
import { checkPaging, Selection } from './sqlite-index-queries.js';
import { CHAIN, column, DEPTH, entity, flatEntity, type Row } from './sqlite-index-tables.js';

const STATEMENT_CACHE_SIZE = 500;

export function indexReads(db: Database.Database) {
  const statements = new Map<string, Database.Statement<unknown[], Row>>();
  const prepared = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) {
      if (statements.size >= STATEMENT_CACHE_SIZE) statements.clear();
      statement = db.prepare<unknown[], Row>(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
  const rowsOf = (
    selection: Selection,
    order: { orderBy?: string; orderAscending?: boolean },
    startIndex: number,
    count: number,
  ) => prepared(selection.sql(order, startIndex, count)).all(...selection.params);
  const toEntities = (level: Level, rows: Row[]): any[] =>
    level === 'flatseries' ? rows.map(flatEntity) : rows.map((row) => entity(CHAIN[DEPTH[level]], row));

  const list = (level: Level, opts: ListOptions): any[] => {
    checkPaging(opts.startIndex, opts.count);
    const selection = new Selection(level);
    const table = CHAIN[DEPTH[level]];
    if (opts.parentId !== undefined && table.parentKey && level !== 'flatseries')
      selection.add(`${column(table, table.parentKey)} = ?`, opts.parentId);
    selection.filter(opts.filter).filters(opts.filters);
    return toEntities(level, rowsOf(selection, opts, opts.startIndex, opts.count));
  };

  const query = (level: Level, q: MetadataQuery): any[] => {
    checkPaging(q.startIndex, q.count);
    const selection = new Selection(level);
    for (const p of q.queryProperties) selection.property(p);
    selection.filters(q.filters);
    return toEntities(level, rowsOf(selection, q.order ?? {}, q.startIndex, q.count));
  };

  return { prepared, rowsOf, toEntities, list, query };
}
