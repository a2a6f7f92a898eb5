/** Every series in one table with its patient and study (Slicebox's flat series view). */
import { Checkbox, Stack, Table, Title } from '@mantine/core';
import { dicomDate, personName } from '../lib/format';
import { useMetadataSearch } from '../lib/metadata';
import { useSelection } from '../lib/selection';
import type { FlatSeries } from '../lib/types';
import { ActionBar } from '../components/Actions';
import { Empty, Pager, QueryState, SortHeader } from '../components/common';
import { AppLink } from '../components/Links';
import { SearchForm } from '../components/Search';
import { Thumbnail } from '../components/Thumbnail';

export function FlatSeriesPage() {
  const { search, setSearch, paging, setPaging, sort, setSort, query, rows } = useMetadataSearch<FlatSeries>(
    'flat',
    'flatseries',
    'Searching series',
    { by: 'id', ascending: false },
  );
  const selection = useSelection();
  return (
    <Stack gap={0}>
      <Title order={2} mb="sm">
        Series
      </Title>
      <SearchForm value={search} onSearch={(f) => (setSearch(f), setPaging({ ...paging, page: 0 }))} />
      <ActionBar level="series" ids={selection.ids} onDone={selection.clear} />
      <QueryState query={query} what="series">
        {() => (
          <>
            <Table.ScrollContainer minWidth={760}>
              <Table striped highlightOnHover aria-label="Series">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th w={36}>
                      <Checkbox
                        aria-label="Select all series on this page"
                        checked={rows.length > 0 && rows.every((r) => selection.has(r.id))}
                        onChange={(e) =>
                          selection.setAll(
                            rows.map((r) => r.id),
                            e.currentTarget.checked,
                          )
                        }
                      />
                    </Table.Th>
                    <Table.Th w={60}>Preview</Table.Th>
                    <SortHeader label="Patient" column="patientName" sort={sort} onSort={setSort} />
                    <SortHeader label="Patient ID" column="patientID" sort={sort} onSort={setSort} />
                    <SortHeader label="Study date" column="studyDate" sort={sort} onSort={setSort} />
                    <SortHeader label="Series" column="seriesDescription" sort={sort} onSort={setSort} />
                    <SortHeader label="Modality" column="modality" sort={sort} onSort={setSort} />
                    <SortHeader label="Added" column="id" sort={sort} onSort={setSort} />
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((f) => (
                    <Table.Tr key={f.id}>
                      <Table.Td>
                        <Checkbox
                          aria-label={`Select series ${f.series.seriesDescription.value || f.id}`}
                          checked={selection.has(f.id)}
                          onChange={() => selection.toggle(f.id)}
                        />
                      </Table.Td>
                      <Table.Td>
                        <Thumbnail seriesId={f.id} small alt="" />
                      </Table.Td>
                      <Table.Td>
                        <AppLink to={`/patients/${f.patient.id}`}>
                          {personName(f.patient.patientName.value) || '(no name)'}
                        </AppLink>
                      </Table.Td>
                      <Table.Td>{f.patient.patientID.value}</Table.Td>
                      <Table.Td>{dicomDate(f.study.studyDate.value)}</Table.Td>
                      <Table.Td>
                        <AppLink to={`/series/${f.id}`}>
                          {f.series.seriesDescription.value || '(no description)'}
                        </AppLink>
                      </Table.Td>
                      <Table.Td>{f.series.modality.value}</Table.Td>
                      <Table.Td>{f.id}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            {rows.length === 0 && <Empty>No series match.</Empty>}
            <Pager
              paging={paging}
              onChange={setPaging}
              hasNext={(query.data?.length ?? 0) > paging.pageSize}
              shown={rows.length}
            />
          </>
        )}
      </QueryState>
    </Stack>
  );
}
