// "▶ Run workflow" above every workflow file.
// The selector (workflowFiles.ts) also matches .github/workflows/: those
// get no lens.
import * as vscode from 'vscode';
import { isWorkflowFile } from './workflowFiles';

export class RunWorkflowLens implements vscode.CodeLensProvider {
  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    if (!isWorkflowFile(doc.uri.fsPath)) return [];
    return [new vscode.CodeLens(new vscode.Range(0, 0, 0, 0), { title: '▶ Run workflow', command: 'mimir.runWorkflow', arguments: [doc.uri] })];
  }
}
