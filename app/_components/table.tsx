import { Table } from "@whop/react/components";

/**
 * A Frosted UI table from column titles and rows of cells (each row keyed); `header`
 * replaces the titles' rendering (e.g. sort links) while `columns` keeps their keys.
 */
export function SimpleTable({
  label,
  columns,
  header,
  rows,
}: {
  label: string;
  columns?: string[];
  header?: React.ReactNode[];
  rows: { key: string; cells: React.ReactNode[] }[];
}) {
  return (
    <Table.Root>
      <Table.Table aria-label={label}>
        {columns && (
          <Table.Header>
            <Table.Row>
              {columns.map((c, i) => (
                <Table.ColumnHeaderCell key={c}>{header?.[i] ?? c}</Table.ColumnHeaderCell>
              ))}
            </Table.Row>
          </Table.Header>
        )}
        <Table.Body>
          {rows.map((r) => (
            <Table.Row key={r.key}>
              {r.cells.map((cell, i) => (
                <Table.Cell key={i}>{cell}</Table.Cell>
              ))}
            </Table.Row>
          ))}
        </Table.Body>
      </Table.Table>
    </Table.Root>
  );
}
